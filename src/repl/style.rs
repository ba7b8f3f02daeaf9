//! The shell's colours, and when there are none: only on a terminal, and
//! never when `NO_COLOR` is set (<https://no-color.org>).

use std::io::IsTerminal;

use anstyle::{AnsiColor, Effects, Style};

pub const COMMAND: Style = AnsiColor::Cyan.on_default().effects(Effects::BOLD);
pub const HANDLE: Style = AnsiColor::Yellow.on_default();
pub const KEYWORD: Style = AnsiColor::Magenta.on_default();
pub const STRING: Style = AnsiColor::Green.on_default();
pub const NUMBER: Style = AnsiColor::Blue.on_default();
pub const VAR: Style = AnsiColor::Cyan.on_default();
pub const FLAG: Style = Style::new().effects(Effects::ITALIC);
pub const COMMENT: Style = Style::new().effects(Effects::DIMMED);
pub const HINT: Style = Style::new().effects(Effects::DIMMED);
pub const ERROR: Style = AnsiColor::Red.on_default().effects(Effects::UNDERLINE);
pub const NOTICE: Style = AnsiColor::Yellow.on_default().effects(Effects::BOLD);

/// Whether to colour, decided once when the shell starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    pub on: bool,
}

impl Palette {
    /// Colour when stdout is a terminal and `NO_COLOR` is not set.
    pub fn detect() -> Self {
        let on = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Palette { on }
    }

    /// `text` in `style`, or as it is when colour is off.
    pub fn paint(self, style: Style, text: &str) -> String {
        if self.on && !text.is_empty() {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_string()
        }
    }
}
