//! The page templates and static files of `frontend/`, embedded in the binary with
//! rust-embed (in debug builds too, `debug-embed`): the dashboard works from the binary
//! alone, with no files to deploy and nothing fetched from elsewhere, and a broken template
//! fails the unit tests rather than a request.
//!
//! A template is named for its file without `.hbs` (`frontend/templates/overview.hbs` is
//! `overview`). Every `{{value}}` is HTML-escaped (quotes and backticks too, so values are
//! safe inside attributes); strict mode makes a template naming a missing field an error
//! instead of an empty string. The only unescaped values are SVG drawings built and escaped
//! in Rust (charts, the lineage graph).

use std::borrow::Cow;

use handlebars::{Handlebars, RenderError, TemplateError};
use rust_embed::RustEmbed;
use serde::Serialize;

#[derive(RustEmbed)]
#[folder = "$CARGO_MANIFEST_DIR/../frontend/templates"]
#[include = "*.hbs"]
struct Templates;

#[derive(RustEmbed)]
#[folder = "$CARGO_MANIFEST_DIR/../frontend/static"]
struct Static;

/// A file of `frontend/static/` by its name there, with its content type.
pub fn asset(name: &str) -> Option<(Cow<'static, [u8]>, &'static str)> {
    let file = Static::get(name)?;
    let kind = match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    };
    Some((file.data, kind))
}

/// The compiled page templates.
pub struct Pages(Handlebars<'static>);

impl Pages {
    pub fn new() -> Result<Pages, TemplateError> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        // The default already; stated because the pages' safety rests on it.
        registry.register_escape_fn(handlebars::html_escape);
        registry.register_embed_templates_with_extension::<Templates>(".hbs")?;
        Ok(Pages(registry))
    }

    /// The page `name` rendered from `data`.
    pub fn render(&self, name: &str, data: &impl Serialize) -> Result<String, RenderError> {
        self.0.render(name, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_compile_and_escape_text() {
        let pages = Pages::new().expect("the built-in templates compile");
        let page = pages
            .render("message", &json!({"title": "<b>\"x\"</b>", "text": "t"}))
            .expect("the message page renders");
        assert!(page.contains("&lt;b&gt;&quot;x&quot;&lt;/b&gt;"), "{page}");
        assert!(!page.contains("<b>"));
        assert!(page.contains(r#"href="/static/style.css""#));
    }

    #[test]
    fn missing_fields_are_errors() {
        let pages = Pages::new().expect("the built-in templates compile");
        assert!(pages.render("message", &json!({"title": "x"})).is_err());
        assert!(pages.render("overview", &json!({"title": "x"})).is_err());
    }

    #[test]
    fn static_files_are_embedded_with_their_type() {
        let (css, kind) = asset("style.css").expect("the stylesheet is embedded");
        assert!(!css.is_empty());
        assert_eq!(kind, "text/css; charset=utf-8");
        assert!(asset("../Cargo.toml").is_none());
        assert!(asset("missing.css").is_none());
    }
}
