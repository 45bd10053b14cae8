//! The observation log on an own nats-server: de-duplication, reading from a sequence, lag, back-pressure, the
//! layout check, and a restart of the server without losing acknowledged records.

use std::time::{Duration, Instant};

use lookout_cluster::log::{
    self, LogConfig, LogError, LogRecord, ObservationLog, PublisherConfig, partition_of,
};
use lookout_cluster::rig::NatsRig;
use serde::{Deserialize, Serialize};

use crate::support;

const BOUND: Duration = Duration::from_secs(60);
const WAIT: Duration = Duration::from_secs(5);

/// A stand-in for the tracker's observation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Obs {
    pub(crate) mmsi: u32,
    pub(crate) value: u64,
}

pub(crate) fn obs(mmsi: u32, value: u64) -> LogRecord<Obs> {
    LogRecord::Observation {
        observation: Obs { mmsi, value },
    }
}

pub(crate) fn config(partitions: u32) -> LogConfig {
    LogConfig {
        partitions,
        ..LogConfig::default()
    }
}

pub(crate) async fn open(rig: &NatsRig, partitions: u32) -> ObservationLog {
    let client = log::connect(&rig.url(), "lookout-cluster-test", WAIT)
        .await
        .unwrap();
    ObservationLog::open(client, config(partitions))
        .await
        .unwrap()
}

/// Reads every record of `partition` after `after_seq` until none arrives for a short while.
async fn read_all(
    log: &ObservationLog,
    partition: u32,
    after_seq: u64,
) -> Vec<(u64, LogRecord<Obs>)> {
    let mut consumer = log.consumer::<Obs>(partition, after_seq).unwrap();
    let mut out = Vec::new();
    while let Some(entry) = consumer.next(Duration::from_millis(700)).await.unwrap() {
        out.push((entry.seq, entry.record.unwrap()));
    }
    out
}

#[tokio::test]
async fn partition_of_spreads_and_stays_in_range() {
    for mmsi in [0, 1, 219_000_000, 366_999_999, u32::MAX] {
        assert!(partition_of(mmsi, 64) < 64);
        assert_eq!(partition_of(mmsi, 1), 0);
    }
}

#[tokio::test]
async fn two_publishers_of_one_message_id_store_it_once() {
    let Some(rig) = support::nats().await else {
        return;
    };
    tokio::time::timeout(BOUND, async {
        let log_a = open(&rig, 4).await;
        let log_b = open(&rig, 4).await;
        let mut a = log_a.publisher::<Obs>(PublisherConfig::default());
        let mut b = log_b.publisher::<Obs>(PublisherConfig::default());
        for i in 0..50u64 {
            let id = format!("feed-1:{i}");
            a.publish(1, &id, &obs(219_000_000, i)).await.unwrap();
            b.publish(1, &id, &obs(219_000_000, i)).await.unwrap();
        }
        let (sa, sb) = (a.flush().await.unwrap(), b.flush().await.unwrap());
        assert_eq!(sa.acked + sb.acked, 100);
        assert_eq!(sa.duplicates + sb.duplicates, 50, "{sa:?} {sb:?}");
        let read = read_all(&log_a, 1, 0).await;
        let values: Vec<u64> = read
            .iter()
            .map(|(_, r)| match r {
                LogRecord::Observation { observation } => observation.value,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(values, (0..50).collect::<Vec<_>>());
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn a_consumer_reads_its_partition_from_a_given_sequence_with_its_lag() {
    let Some(rig) = support::nats().await else {
        return;
    };
    tokio::time::timeout(BOUND, async {
        let log = open(&rig, 8).await;
        let mut publisher = log.publisher::<Obs>(PublisherConfig::default());
        let mut seqs_3 = Vec::new();
        for i in 0..10u64 {
            let ack = publisher
                .publish_and_wait(3, &format!("p3-{i}"), &obs(3, i))
                .await
                .unwrap();
            seqs_3.push(ack.sequence);
            publisher
                .publish(4, &format!("p4-{i}"), &obs(4, i))
                .await
                .unwrap();
        }
        let tick = LogRecord::Tick {
            ingest_time: jiff::Timestamp::from_second(1_700_000_000).unwrap(),
        };
        let tick_seq = publisher
            .publish_and_wait(3, "tick-1", &tick)
            .await
            .unwrap()
            .sequence;
        publisher.flush().await.unwrap();

        let mut consumer = log.consumer::<Obs>(3, seqs_3[3]).unwrap();
        assert_eq!(
            consumer.pending_now().await.unwrap(),
            7,
            "6 observations and a tick after the 4th"
        );
        let first = consumer.next(WAIT).await.unwrap().unwrap();
        assert_eq!(first.seq, seqs_3[4]);
        assert_eq!(first.record.unwrap(), obs(3, 4));
        assert_eq!(first.pending, 6);
        assert_eq!(consumer.lag(), Some(6));
        let rest = read_all(&log, 3, first.seq).await;
        let seqs: Vec<u64> = rest.iter().map(|(s, _)| *s).collect();
        assert_eq!(
            seqs,
            [&seqs_3[5..], &[tick_seq]].concat(),
            "in order, partition 3 only"
        );
        assert_eq!(rest.last().unwrap().1, tick);
        let batch = consumer
            .next_batch(100, WAIT, Duration::from_millis(200))
            .await
            .unwrap();
        assert_eq!(batch.len(), 6);
        assert_eq!(consumer.lag(), Some(0));
        assert!(
            consumer
                .next(Duration::from_millis(300))
                .await
                .unwrap()
                .is_none(),
            "caught up"
        );
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn outstanding_acks_are_bounded() {
    let Some(rig) = support::nats().await else {
        return;
    };
    tokio::time::timeout(BOUND, async {
        let log = open(&rig, 4).await;
        let mut publisher = log.publisher::<Obs>(PublisherConfig {
            max_in_flight: 4,
            ..PublisherConfig::default()
        });
        for i in 0..200u64 {
            publisher
                .publish((i % 4) as u32, &format!("m-{i}"), &obs(1, i))
                .await
                .unwrap();
            assert!(publisher.in_flight() <= 4);
        }
        assert_eq!(publisher.flush().await.unwrap().acked, 200);
        assert_eq!(publisher.in_flight(), 0);
        assert_eq!(log.last_seq().await.unwrap(), 200);
        let err = publisher
            .publish(4, "out-of-range", &obs(1, 0))
            .await
            .unwrap_err();
        assert!(matches!(err, LogError::Config(_)), "{err}");
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn a_different_partition_count_is_refused() {
    let Some(rig) = support::nats().await else {
        return;
    };
    tokio::time::timeout(BOUND, async {
        let _log = open(&rig, 8).await;
        let client = log::connect(&rig.url(), "second", WAIT).await.unwrap();
        let err = ObservationLog::open(client, config(16)).await.unwrap_err();
        assert!(
            matches!(err, LogError::LayoutMismatch { configured: 16, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("partitions=8"), "{err}");
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn acknowledged_records_survive_a_server_restart() {
    let Some(mut rig) = support::nats().await else {
        return;
    };
    tokio::time::timeout(BOUND, async {
        let log = open(&rig, 4).await;
        let mut publisher = log.publisher::<Obs>(PublisherConfig::default());
        for i in 0..500u64 {
            publisher
                .publish(2, &format!("before-{i}"), &obs(2, i))
                .await
                .unwrap();
        }
        assert_eq!(publisher.flush().await.unwrap().acked, 500);
        let mut consumer = log.consumer::<Obs>(2, 0).unwrap();
        let first = consumer.next(WAIT).await.unwrap().unwrap();
        assert_eq!(first.seq, 1);

        rig.restart().await.unwrap(); // SIGKILL, then the same port and store

        // The same client reconnects by itself; publishing goes on (retried under the same ids).
        for i in 500..600u64 {
            publisher
                .publish(2, &format!("after-{i}"), &obs(2, i))
                .await
                .unwrap();
        }
        let stats = publisher.flush().await.unwrap();
        assert_eq!(stats.acked, 600);
        // The consumer opened before the restart recovers and reads on from where it was.
        let mut values = vec![0];
        let deadline = Instant::now() + Duration::from_secs(30);
        while values.len() < 600 && Instant::now() < deadline {
            match consumer.next(Duration::from_secs(2)).await {
                Ok(Some(entry)) => match entry.record.unwrap() {
                    LogRecord::Observation { observation } => values.push(observation.value),
                    other => panic!("{other:?}"),
                },
                Ok(None) => {}
                Err(error) => {
                    println!("consumer error while the server restarts (retried): {error}")
                }
            }
        }
        assert_eq!(
            values,
            (0..600).collect::<Vec<_>>(),
            "nothing lost, nothing repeated"
        );
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn publish_rate_with_bounded_acks() {
    let Some(rig) = support::nats().await else {
        return;
    };
    tokio::time::timeout(BOUND, async {
        let log = open(&rig, 64).await;
        let n = 20_000u64;
        for max_in_flight in [1usize, 256] {
            let mut publisher = log.publisher::<Obs>(PublisherConfig {
                max_in_flight,
                ..PublisherConfig::default()
            });
            let n = if max_in_flight == 1 { n / 10 } else { n };
            let started = Instant::now();
            for i in 0..n {
                let mmsi = 219_000_000 + (i % 5000) as u32;
                publisher
                    .publish(partition_of(mmsi, 64), &format!("rate-{max_in_flight}-{i}"), &obs(mmsi, i))
                    .await
                    .unwrap();
            }
            assert_eq!(publisher.flush().await.unwrap().acked, n);
            let secs = started.elapsed().as_secs_f64();
            println!(
                "measured: {n} publishes with at most {max_in_flight} outstanding acks in {secs:.2} s = {:.0}/s (debug build, loopback)",
                n as f64 / secs
            );
        }
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn a_publish_to_a_dead_server_fails_in_bounded_time() {
    let Some(mut rig) = support::nats().await else {
        return;
    };
    tokio::time::timeout(BOUND, async {
        let log = open(&rig, 4).await;
        let mut publisher = log.publisher::<Obs>(PublisherConfig {
            send_timeout: Duration::from_millis(500),
            ack_timeout: Duration::from_millis(500),
            max_attempts: 2,
            ..PublisherConfig::default()
        });
        publisher
            .publish_and_wait(0, "alive", &obs(1, 1))
            .await
            .unwrap();
        rig.kill().await.unwrap();
        let started = Instant::now();
        let err = publisher
            .publish_and_wait(0, "dead", &obs(1, 2))
            .await
            .unwrap_err();
        assert!(
            matches!(err, LogError::Publish { attempts: 2, .. }),
            "{err}"
        );
        assert!(err.is_retryable());
        println!(
            "measured: publish to a dead server failed after {:?} (2 attempts of 500 ms)",
            started.elapsed()
        );
        // The server comes back; the same publisher goes on and the id is stored once.
        rig.start_again().await.unwrap();
        let mut stored = None;
        for _ in 0..20 {
            match publisher.publish_and_wait(0, "dead", &obs(1, 2)).await {
                Ok(ack) => {
                    stored = Some(ack);
                    break;
                }
                Err(error) => assert!(error.is_retryable(), "{error}"),
            }
        }
        assert!(stored.is_some(), "published after the restart");
        assert_eq!(log.last_seq().await.unwrap(), 2);
    })
    .await
    .expect("bounded");
}

/// The log's order is what trackers replay: a server killed while acks are outstanding, and
/// publishing that goes on (retrying, as ingest does) while it is down, must leave every record
/// of the partition once and in publish order.
#[tokio::test]
async fn a_server_killed_mid_stream_leaves_the_partition_complete_and_in_order() {
    let Some(mut rig) = support::nats().await else {
        return;
    };
    tokio::time::timeout(Duration::from_secs(120), async {
        let log = open(&rig, 4).await;
        let mut publisher = log.publisher::<Obs>(PublisherConfig {
            send_timeout: Duration::from_millis(500),
            ack_timeout: Duration::from_millis(500),
            ..PublisherConfig::default()
        });
        async fn publish_all(publisher: &mut log::Publisher<Obs>, range: std::ops::Range<u64>) {
            for i in range {
                loop {
                    match publisher.publish(1, &format!("m-{i}"), &obs(1, i)).await {
                        Ok(()) => break,
                        Err(error) => {
                            assert!(error.is_retryable(), "{error}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            }
        }
        publish_all(&mut publisher, 0..1500).await;
        assert!(
            publisher.in_flight() > 0,
            "acks are outstanding at the kill"
        );
        rig.kill().await.unwrap();
        let restart = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            rig.start_again().await.unwrap();
        };
        tokio::join!(publish_all(&mut publisher, 1500..3000), restart);
        loop {
            match publisher.flush().await {
                Ok(_) => break,
                Err(error) => assert!(error.is_retryable(), "{error}"),
            }
        }
        let values: Vec<u64> = read_all(&log, 1, 0)
            .await
            .into_iter()
            .map(|(_, record)| match record {
                LogRecord::Observation { observation } => observation.value,
                other => panic!("{other:?}"),
            })
            .collect();
        let inversions: Vec<&[u64]> = values.windows(2).filter(|w| w[0] >= w[1]).collect();
        assert!(
            inversions.is_empty(),
            "records out of publish order: {inversions:?}"
        );
        assert_eq!(values, (0..3000).collect::<Vec<_>>(), "every record once");
    })
    .await
    .expect("bounded");
}
