//! Heartbeats: a loop that stops beating makes health unhealthy and is named.

use std::time::Duration;

use sentinel::{Heartbeat, health};

#[tokio::test]
async fn loop_that_stops_beating_is_named_once_past_its_tolerance() {
    let tolerance = Duration::from_millis(300);
    let stalled = Heartbeat::register("hb-test/stalled", tolerance);
    let alive = Heartbeat::register("hb-test/alive", Duration::from_secs(60));
    stalled.beat();
    let report = health();
    assert!(
        !report.stale_names().contains(&"hb-test/stalled"),
        "fresh beat must not be stale: {report:?}"
    );

    // The stalled loop stops beating (think: blocked on a call without a timeout); the other keeps going.
    tokio::time::sleep(tolerance + Duration::from_millis(100)).await;
    alive.beat();
    let report = health();
    assert!(!report.is_healthy());
    assert!(
        report.stale_names().contains(&"hb-test/stalled"),
        "{report:?}"
    );
    assert!(
        !report.stale_names().contains(&"hb-test/alive"),
        "{report:?}"
    );
    let stalled_health = report.loop_health("hb-test/stalled").unwrap();
    assert!(stalled_health.age_seconds > stalled_health.tolerance_seconds);

    // Beating again makes it fresh; dropping the heartbeat deregisters it.
    stalled.beat();
    assert!(!health().stale_names().contains(&"hb-test/stalled"));
    drop(stalled);
    assert!(health().loop_health("hb-test/stalled").is_none());
}
