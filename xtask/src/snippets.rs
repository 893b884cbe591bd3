//! The TypeScript examples of the docs, compiled: every ```ts block of the
//! READMEs and of the package's TSDoc comments is written out as a module
//! under `bindings-ts/npm/test/snippets/` and checked with strict `tsc`
//! against the built package, as an app would write it. A block may use a
//! few names the docs leave implied (`db`, `userId`, `Todo`, the usual
//! imports, see [`PRELUDE`]); each is declared for it unless the block
//! declares or imports that name itself.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::browser::workspace_root;
use crate::run_command;

/// Names a block may use without declaring them, and their declarations.
const PRELUDE: &[(&str, &str)] = &[
    (
        "createCollection",
        "import { createCollection } from '@tanstack/db';",
    ),
    (
        "createTransaction",
        "import { createTransaction } from '@tanstack/db';",
    ),
    (
        "openDatabase",
        "import { openDatabase } from '@lockstep/db';",
    ),
    (
        "lockstepCollectionOptions",
        "import { lockstepCollectionOptions } from '@lockstep/db';",
    ),
    (
        "Todo",
        "interface Todo { id: string; title: string; done: boolean }",
    ),
    ("userId", "declare const userId: string;"),
    (
        "db",
        "declare const db: import('@lockstep/db').LockstepDatabase;",
    ),
    (
        "cb",
        "declare const cb: (status: import('@lockstep/db').Status) => void;",
    ),
    (
        "transaction",
        "declare const transaction: import('@tanstack/db').Transaction;",
    ),
];

/// One ```ts block: the file it is in, the line its fence opens on, its code.
#[derive(Debug, PartialEq)]
struct Snippet {
    file: PathBuf,
    line: usize,
    code: String,
}

/// Writes every block out (replacing the last run's) and compiles them.
pub fn run_snippet_tests() -> Result<(), String> {
    let package = crate::package::package_dir();
    let out = package.join("test").join("snippets");
    clear_generated(&out)?;
    let mut count = 0;
    for source in sources()? {
        let text = fs::read_to_string(&source)
            .map_err(|e| format!("cannot read {}: {e}", source.display()))?;
        let relative = source
            .strip_prefix(workspace_root())
            .unwrap_or(&source)
            .to_path_buf();
        let in_comments = source.extension().is_some_and(|e| e == "ts");
        for (line, code) in blocks(&text, in_comments) {
            let snippet = Snippet {
                file: relative.clone(),
                line,
                code,
            };
            let path = out.join(module_name(&snippet));
            fs::write(&path, module(&snippet))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            count += 1;
        }
    }
    eprintln!(
        "compiling the {count} TypeScript examples of the docs (bindings-ts/npm/test/snippets/)"
    );
    run_command(
        Command::new("npx")
            .args(["--no-install", "tsc", "-p", "test/snippets/tsconfig.json"])
            .current_dir(&package),
    )
    .map_err(|e| {
        format!(
            "{e}\na TypeScript example of the docs does not compile: each file in \
             bindings-ts/npm/test/snippets/ is named after the block's file and line"
        )
    })
}

/// The READMEs and the package's sources.
fn sources() -> Result<Vec<PathBuf>, String> {
    let root = workspace_root();
    let package = crate::package::package_dir();
    let mut files = vec![root.join("README.md"), package.join("README.md")];
    let src = package.join("src");
    let entries = fs::read_dir(&src).map_err(|e| format!("cannot list {}: {e}", src.display()))?;
    let mut ts: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "ts"))
        .collect();
    ts.sort();
    files.extend(ts);
    Ok(files)
}

/// Removes the `.ts` files a previous run wrote (the tsconfig stays).
fn clear_generated(dir: &Path) -> Result<(), String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for path in entries.filter_map(|entry| entry.ok().map(|e| e.path())) {
        if path.extension().is_some_and(|e| e == "ts") {
            fs::remove_file(&path).map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// The ```ts blocks of `text` with the 1-based line of each opening fence.
/// In a TypeScript source (`in_comments`) the blocks are inside doc
/// comments: each line's leading `*` is dropped.
fn blocks(text: &str, in_comments: bool) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut open: Option<(usize, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = if in_comments {
            match raw.trim_start().strip_prefix('*') {
                Some(rest) => rest.strip_prefix(' ').unwrap_or(rest),
                None => {
                    open = None;
                    continue;
                }
            }
        } else {
            raw
        };
        let fence = line.trim();
        match open.take() {
            None if fence == "```ts" || fence == "```typescript" => {
                open = Some((index + 1, String::new()));
            }
            None => {}
            Some((start, code)) if fence == "```" => found.push((start, code)),
            Some((start, mut code)) => {
                code.push_str(line);
                code.push('\n');
                open = Some((start, code));
            }
        }
    }
    found
}

/// `README.md` line 180 → `README.md_180.ts`; path separators become `_`.
fn module_name(snippet: &Snippet) -> String {
    let file = snippet.file.to_string_lossy().replace(['/', '\\'], "_");
    format!("{file}_{}.ts", snippet.line)
}

/// The module compiled for `snippet`: where it comes from, the prelude
/// names it uses and does not declare, its code.
fn module(snippet: &Snippet) -> String {
    let own = declared_names(&snippet.code);
    let mut text = format!(
        "// {} line {}, written by `cargo xtask test`: edit the docs, not this file.\n",
        snippet.file.display(),
        snippet.line
    );
    for (name, declaration) in PRELUDE {
        if uses(&snippet.code, name) && !own.iter().any(|n| n == name) {
            text.push_str(declaration);
            text.push('\n');
        }
    }
    text.push_str("export {};\n");
    text.push_str(&snippet.code);
    text
}

/// The names `code` declares (`const`, `let`, `function`, `interface`, …) or imports.
fn declared_names(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    let words: Vec<&str> = code
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .filter(|w| !w.is_empty())
        .collect();
    for pair in words.windows(2) {
        if matches!(
            pair[0],
            "const" | "let" | "var" | "function" | "class" | "interface" | "type" | "enum"
        ) {
            names.push(pair[1].to_string());
        }
    }
    for line in code
        .lines()
        .filter(|l| l.trim_start().starts_with("import"))
    {
        let Some(inner) = line.split('{').nth(1).and_then(|r| r.split('}').next()) else {
            continue;
        };
        for item in inner.split(',') {
            let item = item.trim().trim_start_matches("type ").trim();
            if let Some(name) = item.rsplit(" as ").next().filter(|n| !n.is_empty()) {
                names.push(name.trim().to_string());
            }
        }
    }
    names
}

/// Whether `name` occurs in `code` as a whole identifier.
fn uses(code: &str, name: &str) -> bool {
    let ident = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    code.match_indices(name).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + name.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_of_markdown_and_of_doc_comments() {
        let md = "text\n```ts\nconst a = 1\n```\n```rust\nfn x() {}\n```\n```ts\nb()\n```\n";
        assert_eq!(
            blocks(md, false),
            vec![(2, "const a = 1\n".to_string()), (8, "b()\n".to_string())]
        );
        let ts = "/**\n * Opens it.\n * ```ts\n * const db = await openDatabase()\n * ```\n */\nexport {}\n";
        assert_eq!(
            blocks(ts, true),
            vec![(3, "const db = await openDatabase()\n".to_string())]
        );
    }

    #[test]
    fn a_block_cut_by_the_end_of_its_comment_is_dropped() {
        let ts = "/**\n * ```ts\n * const a = 1\n */\nconst b = 2\n/** ```\n */\n";
        assert_eq!(blocks(ts, true), Vec::<(usize, String)>::new());
    }

    #[test]
    fn the_prelude_declares_only_what_a_block_uses_and_does_not_declare() {
        let snippet = Snippet {
            file: PathBuf::from("README.md"),
            line: 7,
            code: "import { openDatabase } from '@lockstep/db'\nconst db = await openDatabase({ app: 'a', scope: userId })\ndb.onStatus(cb)\n".into(),
        };
        let text = module(&snippet);
        assert!(text.starts_with("// README.md line 7,"));
        assert!(text.contains("declare const userId: string;"));
        assert!(text.contains("declare const cb:"));
        assert!(!text.contains("declare const db:"), "{text}");
        assert!(
            !text.contains("import { openDatabase } from '@lockstep/db';"),
            "{text}"
        );
        assert!(!text.contains("interface Todo"));
        assert_eq!(module_name(&snippet), "README.md_7.ts");
    }

    #[test]
    fn names_are_whole_identifiers() {
        assert!(uses("db.status", "db"));
        assert!(!uses("dbx.status", "db"));
        assert!(!uses("a_db", "db"));
        let mut names = declared_names("import { a, type B, c as d } from 'x'\nlet e = 1");
        names.sort();
        names.dedup();
        assert_eq!(names, vec!["B", "a", "d", "e"]);
    }
}
