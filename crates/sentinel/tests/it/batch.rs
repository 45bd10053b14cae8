//! Per-item isolation: one poisoned item in a batch is recorded, the other 999 are processed.

use sentinel::isolate;

#[tokio::test]
async fn batch_of_1000_with_one_panicking_item() {
    let mut processed = Vec::new();
    let mut dead_letters = Vec::new();
    for item in 0..1000u32 {
        let result = isolate(async move {
            tokio::task::yield_now().await;
            if item == 617 {
                let profile: Option<&str> = None;
                panic!(
                    "item {item}: {}",
                    profile.map_or("profile is missing", |_| "unreachable")
                );
            }
            item
        })
        .await;
        match result {
            Ok(done) => processed.push(done),
            Err(panicked) => dead_letters.push((
                item,
                panicked.message().to_owned(),
                panicked.location().map(str::to_owned),
            )),
        }
    }
    assert_eq!(processed.len(), 999);
    assert!(!processed.contains(&617));
    assert_eq!(dead_letters.len(), 1);
    let (item, message, location) = &dead_letters[0];
    assert_eq!(*item, 617);
    assert_eq!(message, "item 617: profile is missing");
    assert!(
        location.as_deref().is_some_and(|l| l.contains("batch.rs")),
        "{location:?}"
    );
}
