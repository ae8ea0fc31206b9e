//! `agnhost liveness`: on 8080, `/healthz` answers 200 `ok` for the first 10 seconds and
//! 500 `error: <seconds>` afterwards; `/started` tells how long it has run; `/redirect?loc=`.

use super::FlagSet;
use crate::golike;
use crate::http::{self, handler};
use crate::programs::Outcome;
use crate::RunContext;
use std::time::{Duration, Instant};

/// How long the server reports healthy.
const HEALTHY_FOR: Duration = Duration::from_secs(10);

/// The `/healthz` answer after `elapsed`.
pub(super) fn healthz(elapsed: Duration) -> (u16, String) {
    if elapsed > HEALTHY_FOR {
        (500, format!("error: {}", elapsed.as_secs_f64()))
    } else {
        (200, "ok".to_string())
    }
}

/// Runs the liveness server.
pub(crate) async fn run(args: &[String], ctx: &RunContext) -> Outcome {
    FlagSet::new("liveness").parse(args)?;
    let listener = ctx.bind_tcp(8080).await?;
    let started = Instant::now();
    http::serve_forever(
        listener,
        handler(move |req| {
            let elapsed = started.elapsed();
            let response = match req.path.as_str() {
                "/healthz" => {
                    let (status, body) = healthz(elapsed);
                    http::text(status, body)
                }
                "/started" => http::text(200, golike::format_duration(elapsed)),
                "/redirect" => {
                    let location = req.form_value("loc");
                    http::with_header(
                        http::html(302, format!("<a href=\"{location}\">Found</a>.\n\n")),
                        "location",
                        &location,
                    )
                }
                _ => http::text(404, "404 page not found\n"),
            };
            async move { response }
        }),
    )
    .await;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_for_ten_seconds() {
        assert_eq!(healthz(Duration::from_secs(3)), (200, "ok".to_string()));
        assert_eq!(healthz(Duration::from_secs(10)), (200, "ok".to_string()));
        assert_eq!(
            healthz(Duration::from_millis(12_500)),
            (500, "error: 12.5".to_string())
        );
    }
}
