//! Bakes the code revision (`git rev-parse HEAD`, plus `-dirty` when tracked files differ from
//! it) into `NEURODYN_REVISION`, so every checkpoint manifest names the code that wrote it.
//! Without git (a source tarball, a build machine without it) the revision is `unknown`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=NEURODYN_REVISION");
    if let Ok(r) = std::env::var("NEURODYN_REVISION") {
        println!("cargo:rustc-env=NEURODYN_REVISION={r}");
        return;
    }
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()));
    let revision = match git(&dir, &["rev-parse", "HEAD"]) {
        Some(rev) if !rev.is_empty() => {
            // Rerun only when HEAD moves (a commit or a checkout), not on every edit: the
            // dirty flag says "built from a modified tree", as of the last HEAD change.
            for name in ["HEAD", "packed-refs"] {
                if let Some(p) = git(&dir, &["rev-parse", "--git-path", name]) {
                    println!("cargo:rerun-if-changed={}", dir.join(p).display());
                }
            }
            if let Some(r) = git(&dir, &["symbolic-ref", "-q", "HEAD"])
                && let Some(p) = git(&dir, &["rev-parse", "--git-path", &r])
            {
                println!("cargo:rerun-if-changed={}", dir.join(p).display());
            }
            let dirty = git(&dir, &["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty { format!("{rev}-dirty") } else { rev }
        }
        _ => {
            println!("cargo:rerun-if-changed=build.rs");
            "unknown".to_string()
        }
    };
    println!("cargo:rustc-env=NEURODYN_REVISION={revision}");
}
