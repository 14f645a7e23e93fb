//! The steady-load (latency when not saturated) and backlog (queue, then drain) scenarios.

use super::*;

impl Bench {
    /// A steady offered load: end-to-end latency when Herald is not saturated.
    pub(crate) async fn steady(&mut self, backend: &Backend) -> Result<(), Error> {
        let scenario = backend.scenario(format_args!("{:.0} msg/s offered", self.args.steady_rate));
        let node = Node::start(&self.bin, backend, &[]).await?;
        let app = node.app("bench").await?;
        node.endpoint(&app, &self.rx.url("/ok/steady")).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        self.rx.reset();
        let n = (self.args.steady_rate * self.args.steady_secs as f64) as u64;
        let p = load::publish(
            node.port,
            &[app],
            n,
            self.args.connections,
            Some(self.args.steady_rate),
            self.args.event_ids,
            0,
        )
        .await;
        self.wait_delivered(p.accepted, Duration::from_secs(60))
            .await;
        self.report(
            &scenario,
            "published",
            format!("{} ({} errors)", p.accepted, p.errors),
            "",
        );
        self.latency_rows(&scenario, ("< 5 ms", "< 50 ms"));
        node.stop().await;
        Ok(())
    }

    /// A backlog queued while the receiver is down, drained once it is up.
    pub(crate) async fn backlog(&mut self, backend: &Backend) -> Result<(), Error> {
        let scenario = backend.scenario(format_args!("backlog {}", self.args.backlog));
        // Held requests must not time out while the backlog builds.
        let env = [("HERALD_REQUEST_TIMEOUT_MS", "600000".to_string())];
        let node = Node::start(&self.bin, backend, &env).await?;
        let app = node.app("bench").await?;
        node.endpoint(&app, &self.rx.url("/ok/backlog")).await?;
        self.rx.reset();
        self.rx.set_up(false);
        let p = load::publish(
            node.port,
            &[app],
            self.args.backlog,
            self.args.connections,
            None,
            self.args.event_ids,
            0,
        )
        .await;
        self.report(
            &scenario,
            "queued",
            format!("{} at {:.0}/s", p.accepted, p.rate()),
            "",
        );
        let up = now_ns();
        self.rx.set_up(true);
        let done = self
            .wait_delivered(p.accepted, Duration::from_secs(600))
            .await;
        let rate = self.rx.ok() as f64 / secs(self.rx.last_ns().saturating_sub(up));
        let value = if done {
            self.of_ceiling(rate)
        } else {
            "INCOMPLETE".into()
        };
        self.report(&scenario, "drain rate", value, "");
        let peak = node.mem_mib("VmHWM");
        self.report(&scenario, "peak RSS", format!("{peak:.1} MiB"), "< 150 MiB");
        node.stop().await;
        Ok(())
    }
}
