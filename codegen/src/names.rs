//! Rust identifiers from spec names, with the same rule typify uses, so names we emit and names
//! typify emits agree.

use heck::ToPascalCase;

/// PascalCase identifier for a schema or enum value, as typify would name it.
///
/// Characters that cannot continue an identifier become word breaks, a leading non-letter gets an
/// `X` prefix, and keywords get a trailing underscore.
pub fn pascal(input: &str) -> String {
    let cleaned: String = input
        .replace('\'', "")
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let out = cleaned.to_pascal_case();
    let out = match out.chars().next() {
        None => "X".to_owned(),
        Some(c) if c.is_alphabetic() || c == '_' => out,
        Some(_) => format!("X{out}"),
    };
    if syn::parse_str::<syn::Ident>(&out).is_ok() {
        out
    } else {
        format!("{out}_")
    }
}

#[cfg(test)]
mod tests {
    use super::pascal;

    #[test]
    fn names_follow_typify() {
        assert_eq!(pascal("in-progress"), "InProgress");
        assert_eq!(pascal("no-answer"), "NoAnswer");
        assert_eq!(pascal("call.transfer.completed"), "CallTransferCompleted");
        assert_eq!(pascal("speaker_0"), "Speaker0");
        assert_eq!(pascal("ata"), "Ata");
        assert_eq!(pascal("4409"), "X4409");
        assert_eq!(pascal("Self"), "Self_");
    }
}
