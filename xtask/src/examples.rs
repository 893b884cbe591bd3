//! Builds the example apps the demo serves and the browser tests open:
//! `examples/todo-react` (Vite + React + TanStack DB) installs `@lockstep/db`
//! from the packed tarball, like a user would, and builds with Vite.

use std::path::PathBuf;
use std::process::Command;

use crate::browser::workspace_root;
use crate::{run_command, setup};

/// `examples/todo-react/`.
pub fn react_dir() -> PathBuf {
    workspace_root().join("examples").join("todo-react")
}

/// Installs the React example's packages, then the freshly packed
/// `@lockstep/db` (`npm install --no-save <tarball>`: the lockfile keeps
/// no integrity for the tarball, whose content changes with every build),
/// then type-checks and builds it into `examples/todo-react/dist/`.
pub fn build_react(tarball: &std::path::Path) -> Result<PathBuf, String> {
    let dir = react_dir();
    setup::ensure_npm_packages(&dir)?;
    run_command(
        Command::new("npm")
            .args(["install", "--no-save", "--no-audit", "--no-fund"])
            .arg(tarball)
            .current_dir(&dir),
    )?;
    run_command(Command::new("npm").args(["run", "build"]).current_dir(&dir))?;
    Ok(dir.join("dist"))
}
