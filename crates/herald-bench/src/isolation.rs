//! The hanging-endpoint scenario: what a hanging endpoint costs a healthy one beside it.

use super::*;

impl Bench {
    /// The healthy endpoint's delivery rate with, and without, a hanging endpoint beside it.
    pub(crate) async fn hanging(&mut self, backend: &Backend) -> Result<(), Error> {
        let scenario = backend.scenario("hanging endpoint");
        let n = self.args.hang_messages;
        // The other app: no endpoint (baseline), a hanging endpoint, a healthy endpoint, a
        // disabled endpoint (its messages stored for it, as for the hanging one, but never
        // sent: what storing them costs, apart from the hang). Each variant runs `HANG_ROUNDS`
        // times, interleaved, and the medians are compared: single runs on this shared machine
        // vary by about 10%.
        let rx = &self.rx;
        let variants = [
            None,
            Some(serde_json::json!({"url": rx.url("/hang/other")})),
            Some(serde_json::json!({"url": rx.url("/ok-other/other")})),
            Some(serde_json::json!({"url": rx.url("/ok-other/disabled"), "disabled": true})),
        ];
        let mut samples: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
        let mut hung = 0;
        for _ in 0..HANG_ROUNDS {
            for (v, other_ep) in variants.iter().enumerate() {
                let env = [("HERALD_REQUEST_TIMEOUT_MS", "2000".to_string())];
                let node = Node::start(&self.bin, backend, &env).await?;
                let healthy = node.app("healthy").await?;
                node.endpoint(&healthy, &self.rx.url("/ok/healthy")).await?;
                let other = node.app("other").await?;
                if let Some(body) = other_ep {
                    node.endpoint_with(&other, body.clone()).await?;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                self.rx.reset();
                // Both apps get the same number of messages, interleaved.
                let p = load::publish(
                    node.port,
                    &[healthy, other],
                    2 * n,
                    self.args.connections,
                    None,
                    self.args.event_ids,
                    0,
                )
                .await;
                self.wait_delivered(p.accepted / 2, Duration::from_secs(120))
                    .await;
                samples[v]
                    .push(self.rx.ok() as f64 / secs(self.rx.last_ns().saturating_sub(p.start_ns)));
                if v == 1 {
                    hung += self.rx.hung();
                }
                node.stop().await;
            }
        }
        let rates: Vec<f64> = samples.iter().map(|s| median(s)).collect();
        let labels = [
            "healthy rate, alone",
            "healthy rate, other hangs",
            "healthy rate, other healthy",
            "healthy rate, other disabled",
        ];
        for ((label, rate), runs) in labels.iter().zip(&rates).zip(&samples) {
            let runs: Vec<String> = runs.iter().map(|r| format!("{r:.0}")).collect();
            self.report(
                &scenario,
                label,
                format!("{rate:.0}/s (median of {})", runs.join(", ")),
                "",
            );
        }
        self.report(&scenario, "hung requests", hung.to_string(), "");
        // Each cost is the median of the rounds' own ratios: the variants of a round run back to
        // back, so a drift of the shared machine's speed between rounds cancels out.
        let cost_vs = |base: usize| {
            let ratios: Vec<f64> = samples[1]
                .iter()
                .zip(&samples[base])
                .map(|(hang, other)| 100.0 * (1.0 - hang / other))
                .collect();
            let each: Vec<String> = ratios.iter().map(|r| format!("{r:.1}")).collect();
            format!("{:.1}% (median of {})", median(&ratios), each.join(", "))
        };
        let (alone, healthy, disabled) = (cost_vs(0), cost_vs(2), cost_vs(3));
        self.report(&scenario, "cost of the hang vs alone", alone, "< 10%");
        self.report(
            &scenario,
            "cost of the hang vs a healthy other",
            healthy,
            "",
        );
        self.report(
            &scenario,
            "cost of the hang vs a disabled other",
            disabled,
            "",
        );
        Ok(())
    }
}
