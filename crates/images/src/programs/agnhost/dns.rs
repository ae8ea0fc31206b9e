//! `agnhost dns-suffix` and `agnhost dns-server-list`: print the search list and the name
//! servers of the container's `/etc/resolv.conf`, comma-separated, as the Linux build of
//! agnhost does (only the first `search` and the first `nameserver` line count).

use super::FlagSet;
use crate::programs::Outcome;
use crate::{Error, RunContext};

/// The values of the first line of `resolv` that starts with `keyword`.
fn first_line_values(resolv: &str, keyword: &str) -> Option<Vec<String>> {
    resolv
        .split('\n')
        .find(|line| line.starts_with(keyword))
        .map(|line| line.split(' ').skip(1).map(str::to_string).collect())
}

/// Runs `dns-suffix` (`keyword` `search`) or `dns-server-list` (`nameserver`).
pub(crate) fn run(sub: &str, args: &[String], ctx: &RunContext, keyword: &str) -> Outcome {
    FlagSet::new(sub).parse(args)?;
    let path = ctx.fs_root().join("etc/resolv.conf");
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
        context: "open /etc/resolv.conf".into(),
        source,
    })?;
    match first_line_values(&text, keyword) {
        Some(values) => {
            ctx.log(&values.join(","));
            Ok(0)
        }
        None => {
            // Go panics here: message on stderr, exit status 2.
            ctx.log_error("panic: Could not find DNS search list!");
            Ok(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_first_matching_line() {
        let resolv =
            "search resolv.conf.local svc.cluster.local\nnameserver 1.1.1.1\nnameserver 8.8.8.8\n";
        assert_eq!(
            first_line_values(resolv, "search").unwrap(),
            vec!["resolv.conf.local", "svc.cluster.local"]
        );
        assert_eq!(
            first_line_values(resolv, "nameserver").unwrap(),
            vec!["1.1.1.1"]
        );
        assert_eq!(first_line_values("options ndots:5\n", "search"), None);
    }
}
