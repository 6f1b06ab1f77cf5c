//! Progress and prompts that degrade without a terminal.
//!
//! On a terminal (stderr for progress, stdin and stderr for prompts): an indicatif
//! spinner and dialoguer prompts. Elsewhere (CI, pipes, logs): plain lines, and never a
//! prompt, so a command either has what it needs from flags and the environment or says
//! which flag to pass.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Where progress goes and whether the user can be asked.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    terminal: bool,
    interactive: bool,
}

impl Ui {
    /// Decides from the process's own stdin and stderr.
    pub fn detect() -> Self {
        let terminal = std::io::stderr().is_terminal();
        Self {
            terminal,
            interactive: terminal && std::io::stdin().is_terminal(),
        }
    }

    /// Whether progress is drawn in place (a spinner) rather than printed as lines.
    pub fn is_terminal(&self) -> bool {
        self.terminal
    }

    /// Whether someone can answer a prompt (stdin and stderr are terminals).
    pub fn can_ask(&self) -> bool {
        self.interactive
    }

    /// One line of progress on stderr.
    pub fn line(&self, message: &str) {
        eprintln!("{message}");
    }

    /// A spinner on a terminal; elsewhere the message once, as a line.
    pub fn spinner(&self, message: &str) -> Progress {
        if !self.terminal {
            self.line(message);
            return Progress(None);
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed:>4} {wide_msg}") {
            bar.set_style(style);
        }
        bar.set_message(message.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress(Some(bar))
    }

    /// Asks for a line of text with `validate` applied, or `None` when nobody can answer
    /// (no terminal, or it closed). Ctrl-C at the prompt is [`Interrupted`].
    pub fn ask(
        &self,
        prompt: &str,
        validate: impl Fn(&String) -> Result<(), String>,
    ) -> Result<Option<String>, Interrupted> {
        if !self.interactive {
            return Ok(None);
        }
        let typed = dialoguer::Input::<String>::new()
            .with_prompt(prompt)
            .validate_with(|input: &String| validate(input))
            .interact_text();
        answer(typed)
    }

    /// Asks a yes/no question (default no), or `None` when nobody can answer. A prompt
    /// that fails (a closed terminal) is a no; Ctrl-C at it is [`Interrupted`].
    pub fn confirm(&self, prompt: &str) -> Result<Option<bool>, Interrupted> {
        if !self.interactive {
            return Ok(None);
        }
        let answered = dialoguer::Confirm::new()
            .with_prompt(prompt)
            .default(false)
            .interact();
        Ok(Some(answer(answered)?.unwrap_or(false)))
    }
}

/// Ctrl-C at a prompt: the command ends there, with exit code 130 like at any other step.
#[derive(Debug, PartialEq, Eq)]
pub struct Interrupted;

impl From<Interrupted> for crate::error::Failure {
    fn from(_: Interrupted) -> Self {
        crate::error::Failure::interrupted(
            "interrupted at the prompt; mb stopped there, before doing what it asked about",
        )
    }
}

/// A prompt's outcome (pure): the answer; `None` when the terminal failed (closed, not
/// readable); [`Interrupted`] for Ctrl-C. In raw mode, where dialoguer reads keys, Ctrl-C
/// is the byte 0x03, not a signal: console turns it into an `Interrupted` I/O error (and
/// raises SIGINT, which main's Ctrl-C listener catches).
pub fn answer<T>(result: dialoguer::Result<T>) -> Result<Option<T>, Interrupted> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(dialoguer::Error::IO(err)) if err.kind() == std::io::ErrorKind::Interrupted => {
            Err(Interrupted)
        }
        Err(_) => Ok(None),
    }
}

/// A running spinner (or nothing, without a terminal).
pub struct Progress(Option<ProgressBar>);

impl Progress {
    /// A line printed above the spinner (or as a plain line without a terminal).
    pub fn println(&self, line: &str) {
        match &self.0 {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    pub fn set_message(&self, message: &str) {
        if let Some(bar) = &self.0 {
            bar.set_message(message.to_owned());
        }
    }

    pub fn finish(mut self) {
        self.clear();
    }

    fn clear(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish_and_clear();
        }
    }
}

/// A spinner dropped unfinished (the command stopped by Ctrl-C) leaves no line behind.
impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Writes a command's result to stdout. A closed stdout (`mb template | head -1`) is a
/// failure with a message, not a panic as `print!` would make it.
pub fn print(text: &str) -> Result<(), crate::error::Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| crate::error::Failure::new(format!("cannot write to standard output: {e}")))
}

/// Colour only on a terminal, and never when `NO_COLOR` is set (https://no-color.org).
pub fn colour(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Whether what goes to stdout may be coloured.
pub fn stdout_colour() -> bool {
    colour(std::io::stdout().is_terminal())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(kind: std::io::ErrorKind) -> dialoguer::Result<bool> {
        Err(dialoguer::Error::IO(std::io::Error::new(kind, "x")))
    }

    #[test]
    fn ctrl_c_at_a_prompt_is_an_interruption_and_exits_130() {
        assert_eq!(
            answer(io(std::io::ErrorKind::Interrupted)),
            Err(Interrupted)
        );
        let failure = crate::error::Failure::from(Interrupted);
        assert_eq!(failure.exit_code(), 130);
        assert!(failure.to_string().starts_with("interrupted"), "{failure}");
    }

    #[test]
    fn an_answer_is_kept_and_a_failed_terminal_is_no_answer() {
        assert_eq!(answer(Ok(false)), Ok(Some(false)));
        assert_eq!(answer(Ok(true)), Ok(Some(true)));
        assert_eq!(answer(io(std::io::ErrorKind::UnexpectedEof)), Ok(None));
        assert_eq!(answer(io(std::io::ErrorKind::NotConnected)), Ok(None));
    }
}
