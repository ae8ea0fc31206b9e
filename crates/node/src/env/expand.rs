//! `$(VAR)` references, expanded the way the kubelet expands `env[].value`, `command` and
//! `args`: `$(NAME)` is replaced when NAME is known and left as written otherwise, `$$`
//! is an escaped `$`, and any other `$` is kept as is.

/// Expands the `$(VAR)` references in `input` with the variables of `env` (the first entry of
/// a name wins). Unknown references stay as written (`$(MISSING)`), `$$` becomes `$`, and
/// an unterminated `$(` is copied literally; this is what the kubelet does to a container's
/// `command` and `args` with the container's final environment.
pub fn expand(input: &str, env: &[(String, String)]) -> String {
    expand_with(input, |name| {
        env.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    })
}

/// Expands `input`, asking `lookup` for the value of each referenced name.
pub(crate) fn expand_with(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    // Everything before `copied` is already in `out`. Every index used to slice `input`
    // sits just after an ASCII byte, so it is a character boundary.
    let mut copied = 0;
    let mut cursor = 0;
    while cursor < bytes.len() {
        if bytes[cursor] == b'$' && cursor + 1 < bytes.len() {
            out.push_str(&input[copied..cursor]);
            match bytes[cursor + 1] {
                b'$' => {
                    // `$$`: an escaped operator.
                    out.push('$');
                    cursor += 1;
                }
                b'(' => match input[cursor + 2..].find(')') {
                    Some(length) => {
                        let name = &input[cursor + 2..cursor + 2 + length];
                        match lookup(name) {
                            Some(value) => out.push_str(&value),
                            None => {
                                out.push_str("$(");
                                out.push_str(name);
                                out.push(')');
                            }
                        }
                        cursor += 2 + length;
                    }
                    None => {
                        // Unterminated reference: keep `$(` and go on after it.
                        out.push_str("$(");
                        cursor += 1;
                    }
                },
                _ => {
                    // A lone `$`; the byte after it is copied with the rest of the text.
                    out.push('$');
                }
            }
            copied = cursor + 1;
        }
        cursor += 1;
    }
    out.push_str(&input[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<(String, String)> {
        vec![
            ("GREETING".into(), "hello".into()),
            ("NAME".into(), "kubia".into()),
            ("EMPTY".into(), String::new()),
        ]
    }

    #[test]
    fn replaces_known_references() {
        assert_eq!(expand("$(GREETING) $(NAME)!", &env()), "hello kubia!");
        assert_eq!(expand("$(GREETING)$(NAME)", &env()), "hellokubia");
        assert_eq!(expand("x$(EMPTY)y", &env()), "xy");
    }

    #[test]
    fn leaves_unknown_references_as_written() {
        assert_eq!(expand("$(MISSING)", &env()), "$(MISSING)");
        assert_eq!(
            expand("a $(MISSING) b $(NAME)", &env()),
            "a $(MISSING) b kubia"
        );
        assert_eq!(expand("$()", &env()), "$()");
    }

    #[test]
    fn double_dollar_escapes() {
        assert_eq!(expand("$$(NAME)", &env()), "$(NAME)");
        assert_eq!(expand("$$$(NAME)", &env()), "$kubia");
        assert_eq!(expand("cost: $$5", &env()), "cost: $5");
        assert_eq!(expand("$$", &env()), "$");
        assert_eq!(expand("$$$", &env()), "$$");
    }

    #[test]
    fn other_dollars_are_kept() {
        assert_eq!(expand("$NAME ${NAME} $", &env()), "$NAME ${NAME} $");
        assert_eq!(expand("$(NAME", &env()), "$(NAME");
        assert_eq!(expand("a$(b", &env()), "a$(b");
        assert_eq!(expand("$é$(NAME)", &env()), "$ékubia");
        assert_eq!(expand("plain text", &env()), "plain text");
        assert_eq!(expand("", &env()), "");
    }
}
