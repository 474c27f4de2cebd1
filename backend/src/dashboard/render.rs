//! The page templates of `frontend/`, compiled into the binary with `include_str!` (as the
//! alert templates are): the dashboard works from the binary alone, with no files to
//! deploy and nothing fetched from elsewhere, and a broken template fails the unit tests
//! rather than a request.
//!
//! Every `{{value}}` is HTML-escaped (quotes and backticks too, so values are safe inside
//! attributes); strict mode makes a template naming a missing field an error instead of an
//! empty string. The only unescaped value is a chart's SVG, built and escaped by
//! [`super::chart`].

use handlebars::{Handlebars, RenderError, TemplateError};
use serde::Serialize;

/// `(name, source)`: pages render `{{#> layout}}…{{/layout}}` around their content.
const TEMPLATES: [(&str, &str); 4] = [
    (
        "layout",
        include_str!("../../../frontend/templates/layout.hbs"),
    ),
    (
        "overview",
        include_str!("../../../frontend/templates/overview.hbs"),
    ),
    (
        "dataset",
        include_str!("../../../frontend/templates/dataset.hbs"),
    ),
    (
        "message",
        include_str!("../../../frontend/templates/message.hbs"),
    ),
];

/// The stylesheet every page links to as `/static/style.css`.
pub const STYLE: &str = include_str!("../../../frontend/static/style.css");

/// The compiled page templates.
pub struct Pages(Handlebars<'static>);

impl Pages {
    pub fn new() -> Result<Pages, TemplateError> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        // The default already; stated because the pages' safety rests on it.
        registry.register_escape_fn(handlebars::html_escape);
        for (name, source) in TEMPLATES {
            registry.register_template_string(name, source)?;
        }
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
}
