//! The ordered scenario: fan-out 1 with an `orderingKey` on every message (100 keys in turn),
//! beside the same run without keys, in rounds, so that the two rates are from the same machine.

use super::*;

impl Bench {
    /// What ordered delivery costs: unordered then ordered fan-out 1 runs, back to back in each
    /// round, and the median of each.
    pub(crate) async fn ordered(&mut self, backend: &Backend) -> Result<(), Error> {
        let (n, keys) = (self.args.ordered_messages, self.args.ordering_keys);
        let scenario = backend.scenario(format_args!("fan-out 1, {n} msgs, {keys} keys"));
        let (mut plain, mut ordered) = (Vec::new(), Vec::new());
        for _ in 0..self.args.ordered_rounds.max(1) {
            for k in [0, keys] {
                let run = self.keyed_run(backend, 1, 1, n, k).await?;
                if !run.done {
                    return Err(
                        format!("{k} keys: {} of {} delivered", run.delivered, run.want).into(),
                    );
                }
                if k == 0 { &mut plain } else { &mut ordered }.push(run.rate);
            }
        }
        let rounds = |v: &[f64]| {
            v.iter()
                .map(|r| format!("{r:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (p, o) = (median(&plain), median(&ordered));
        self.report(
            &scenario,
            "unordered msgs/s",
            format!("{p:.0}/s (rounds: {})", rounds(&plain)),
            "",
        );
        self.report(
            &scenario,
            "ordered msgs/s",
            format!("{o:.0}/s (rounds: {})", rounds(&ordered)),
            "",
        );
        self.report(
            &scenario,
            "ordered as % of unordered",
            format!("{:.0}%", 100.0 * o / p),
            "",
        );
        Ok(())
    }
}
