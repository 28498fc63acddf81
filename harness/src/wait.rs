//! The one wait-until-ready loop: the hub's WireGuard link, the backends' listeners and the
//! proxy's listener in the guest all come up through it, without blocking a runtime thread.
use std::time::Duration;

/// Ask `ready` every `every` until it says yes (true) or `within` has passed (false). An
/// error from `ready` ends the wait at once.
pub async fn poll_until<E>(
    within: Duration,
    every: Duration,
    mut ready: impl AsyncFnMut() -> Result<bool, E>,
) -> Result<bool, E> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if ready().await? {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ready_late_in_time_is_ready_and_never_ready_is_false() {
        let mut n = 0;
        let ms = Duration::from_millis;
        assert_eq!(
            poll_until(ms(500), ms(5), async || Ok::<_, ()>({
                n += 1;
                n == 3
            }))
            .await,
            Ok(true)
        );
        assert_eq!(n, 3);
        let t0 = std::time::Instant::now();
        assert_eq!(poll_until(ms(50), ms(5), async || Ok::<_, ()>(false)).await, Ok(false));
        assert!(t0.elapsed() >= ms(50));
        assert_eq!(poll_until(ms(500), ms(5), async || Err::<bool, _>("broken")).await, Err("broken"));
    }
}
