//! `${VAR}` and `${VAR:-default}` substitution in scalar values.
//!
//! Substitution runs on each value after parsing, when a reader asks for it, so positions in
//! diagnostics stay those of the file and a variable's value can never break the YAML around
//! it. `$${` writes a literal `${`. Values may be secrets: nothing here ever puts a variable's
//! value into an error message.

/// Where variables come from: the process environment, or a map in tests.
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A scalar after substitution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Substituted {
    pub text: String,
    /// True when any part came from `${…}`: such a value may be a secret and is not echoed.
    pub from_env: bool,
}

/// Replaces every `${…}` in `text`; errors name the variable, never a value.
pub(crate) fn substitute(text: &str, env: Env<'_>) -> Result<Substituted, Vec<String>> {
    let mut out = String::with_capacity(text.len());
    let mut errors = Vec::new();
    let mut from_env = false;
    let mut rest = text;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let Some(close) = after.find('}') else {
                errors.push("unterminated '${' (write '$${' for a literal '${')".to_owned());
                break;
            };
            from_env = true;
            match expand(&after[..close], env) {
                Ok(value) => out.push_str(&value),
                Err(error) => errors.push(error),
            }
            rest = &after[close + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    out.push_str(rest);
    Ok(Substituted {
        text: out,
        from_env,
    })
}

/// Expands the inside of one `${…}`. Like the shell, `:-` also applies to an empty variable.
fn expand(inner: &str, env: Env<'_>) -> Result<String, String> {
    let (name, default) = match inner.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (inner, None),
    };
    if !is_variable_name(name) {
        return Err(format!(
            "invalid variable name '{name}' in '${{…}}' (use letters, digits and '_')"
        ));
    }
    match (env(name), default) {
        (Some(value), Some(default)) if value.is_empty() => Ok(default.to_owned()),
        (Some(value), _) => Ok(value),
        (None, Some(default)) => Ok(default.to_owned()),
        (None, None) => Err(format!(
            "environment variable {name} is not set (write ${{{name}:-default}} to give a default)"
        )),
    }
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("db.internal".into()),
            "EMPTY" => Some(String::new()),
            "PASSWORD" => Some("hunter2".into()),
            _ => None,
        }
    }

    fn run(text: &str) -> Result<Substituted, Vec<String>> {
        substitute(text, &env)
    }

    #[test]
    fn substitutes_set_variables() {
        assert_eq!(
            run("postgres://${HOST}:5432/x"),
            Ok(Substituted {
                text: "postgres://db.internal:5432/x".into(),
                from_env: true,
            })
        );
    }

    #[test]
    fn defaults_apply_to_unset_and_empty_variables() {
        assert_eq!(
            run("${NOPE:-sqlite://a.db}").map(|s| s.text),
            Ok("sqlite://a.db".into())
        );
        assert_eq!(run("${EMPTY:-x}").map(|s| s.text), Ok("x".into()));
        assert_eq!(run("${EMPTY}").map(|s| s.text), Ok(String::new()));
        assert_eq!(run("${HOST:-x}").map(|s| s.text), Ok("db.internal".into()));
        assert_eq!(run("${NOPE:-}").map(|s| s.text), Ok(String::new()));
    }

    #[test]
    fn text_without_placeholders_is_untouched() {
        assert_eq!(
            run("price is $5 and $ {x}"),
            Ok(Substituted {
                text: "price is $5 and $ {x}".into(),
                from_env: false,
            })
        );
    }

    #[test]
    fn double_dollar_escapes_a_literal_placeholder() {
        assert_eq!(
            run("$${HOST} and ${HOST}"),
            Ok(Substituted {
                text: "${HOST} and db.internal".into(),
                from_env: true,
            })
        );
        assert_eq!(run("$${NOPE}").map(|s| s.from_env), Ok(false));
    }

    #[test]
    fn unset_variables_are_named_and_all_reported() {
        assert_eq!(
            run("${A_UNSET}/${PASSWORD}/${B_UNSET}"),
            Err(vec![
                "environment variable A_UNSET is not set (write ${A_UNSET:-default} to give a default)".into(),
                "environment variable B_UNSET is not set (write ${B_UNSET:-default} to give a default)".into(),
            ])
        );
    }

    #[test]
    fn malformed_placeholders_are_errors() {
        assert_eq!(
            run("${HOST"),
            Err(vec![
                "unterminated '${' (write '$${' for a literal '${')".into()
            ])
        );
        assert_eq!(
            run("${1X}"),
            Err(vec![
                "invalid variable name '1X' in '${…}' (use letters, digits and '_')".into()
            ])
        );
        assert_eq!(
            run("${}"),
            Err(vec![
                "invalid variable name '' in '${…}' (use letters, digits and '_')".into()
            ])
        );
    }

    #[test]
    fn errors_never_contain_values() {
        let errors = run("${PASSWORD:-x}${MISSING}").expect_err("MISSING is unset");
        assert!(errors.iter().all(|error| !error.contains("hunter2")));
    }
}
