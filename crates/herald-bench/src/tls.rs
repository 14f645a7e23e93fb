//! The TLS scenario: PostgreSQL fan-out 1 without and with TLS, in rounds.

use super::*;

impl Bench {
    /// What TLS to PostgreSQL costs: fan-out 1 runs without and with TLS, back to back in each
    /// round so that both see the same machine, and the median of the rounds' ratios.
    pub(crate) async fn tls_cost(&mut self, admin: &str) -> Result<(), Error> {
        let n = self.args.tls_messages;
        let mut ratios = Vec::new();
        let mut rates = Vec::new();
        for _ in 0..self.args.tls_rounds {
            let mut pair = [0.0; 2];
            for (i, mode) in ["disable", "require"].into_iter().enumerate() {
                let backend = Backend::Postgres {
                    admin: node::with_sslmode(admin, mode),
                    tls: mode == "require",
                };
                let run = self.load_run(&backend, 1, 1, n).await?;
                if !run.done {
                    return Err(format!(
                        "sslmode={mode}: {} of {} delivered",
                        run.delivered, run.want
                    )
                    .into());
                }
                pair[i] = run.rate;
            }
            rates.push(format!("{:.0}/{:.0}", pair[0], pair[1]));
            ratios.push(100.0 * pair[1] / pair[0]);
        }
        let mut sorted = ratios.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        let scenario = format!("postgres fan-out 1, TLS vs plain, {n} msgs");
        self.report(&scenario, "plain / TLS msgs/s", rates.join(", "), "");
        let value = format!(
            "{median:.0}% (rounds: {})",
            ratios
                .iter()
                .map(|r| format!("{r:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.report(&scenario, "TLS rate as % of plain", value, ">= 80%");
        Ok(())
    }
}
