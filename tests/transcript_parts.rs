//! Unit tests of the transcript checker's parts, which live in `tests/transcript/`. The
//! checker itself (`tests/transcripts.rs`) has a harness of its own, which runs no
//! `#[test]`.

// The checker uses what these tests do not.
#![allow(dead_code)]

#[path = "transcript/load.rs"]
mod load;
#[path = "transcript/machine.rs"]
mod machine;
#[path = "transcript/markdown.rs"]
mod markdown;
#[path = "transcript/normalise.rs"]
mod normalise;

mod reading_the_book {
    use super::markdown::*;
    use std::fs;

    #[test]
    fn finds_the_lines_wider_than_the_book() {
        let text = "short\nexactly ten\nnäive ünïcode is counted in characters";
        assert_eq!(overwide_lines(text, 11), vec![(3, 38)]);
        assert_eq!(overwide_lines(text, 10), vec![(2, 11), (3, 38)]);
        assert!(overwide_lines(text, 38).is_empty());
        let line = format!("MainProcess      [ 0.00s] {}", "x".repeat(BOOK_WIDTH));
        assert_eq!(overwide_lines(&line, BOOK_WIDTH).len(), 1);
    }

    fn blocks_of(text: &str) -> Result<Vec<Block>, String> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir =
            std::env::temp_dir().join(format!("forkspawn-md-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("{}.md", NEXT.fetch_add(1, Ordering::Relaxed)));
        fs::write(&file, text).unwrap();
        console_blocks(&file)
    }

    #[test]
    fn reads_the_command_and_the_output() {
        let blocks = blocks_of(
            "# Title\n\n```console\n$ cargo run -q --example demo -- fork --flag\nline 1\nline 2\n```\n",
        )
        .unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(
            blocks[0].command,
            Command::Example {
                name: "demo".into(),
                args: vec!["fork".into(), "--flag".into()],
                release: false,
                target: None,
            }
        );
        assert_eq!(blocks[0].expected, "line 1\nline 2\n");
        assert_eq!(blocks[0].line, 3);
    }

    #[test]
    fn reads_a_release_run() {
        let blocks = blocks_of(
            "```console\n$ cargo run --release -q --example bench -- --json\n{}\n```\n",
        )
        .unwrap();
        assert_eq!(
            blocks[0].command,
            Command::Example {
                name: "bench".into(),
                args: vec!["--json".into()],
                release: true,
                target: None,
            }
        );
        assert!(blocks[0].name().ends_with(".md:1 bench -- --json"));
    }

    #[test]
    fn reads_a_windows_run() {
        let blocks = blocks_of(
            "```console\n$ cargo run -q --target x86_64-pc-windows-gnu --example demo -- fork\nx\n```\n",
        )
        .unwrap();
        assert_eq!(
            blocks[0].command,
            Command::Example {
                name: "demo".into(),
                args: vec!["fork".into()],
                release: false,
                target: Some("x86_64-pc-windows-gnu".into()),
            }
        );
        assert!(blocks[0].name().ends_with(
            ".md:1 cargo run -q --target x86_64-pc-windows-gnu --example demo -- fork"
        ));
    }

    #[test]
    fn refuses_a_command_it_cannot_run_unless_marked() {
        let unmarked = blocks_of("```console\n$ python3 demo.py fork\nout\n```\n");
        assert!(
            unmarked
                .unwrap_err()
                .contains("found `$ python3 demo.py fork`")
        );
        let marked = blocks_of(
            "```console\n# not run: needs macOS\n$ python3 demo.py fork\nout\n```\n",
        );
        assert_eq!(
            marked.unwrap()[0].command,
            Command::NotRun {
                reason: "needs macOS".into()
            }
        );
    }

    #[test]
    fn finds_a_block_indented_in_a_list_item_and_rewrites_it_in_place() {
        let text = "- a step:\n\n  ```console\n  $ cargo run -q --example demo -- fork\n     W-1 old\n  ```\n";
        let blocks = blocks_of(text).unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].expected, "   W-1 old\n");
        rewrite(
            &blocks[0].file,
            &[(&blocks[0], "   W-1 new\nmore\n".to_owned())],
        )
        .unwrap();
        let rewritten = fs::read_to_string(&blocks[0].file).unwrap();
        assert!(
            rewritten.contains("\n     W-1 new\n  more\n  ```\n"),
            "{rewritten}"
        );
    }

    #[test]
    fn finds_a_block_in_a_quote_a_footnote_or_with_a_tab_after_its_language() {
        let quoted = "> a quote:\n>\n> ```console\n> $ cargo run -q --example demo -- fork\n>    W-1 out\n> ```\n";
        let blocks = blocks_of(quoted).unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].expected, "   W-1 out\n");
        let footnote = "Text.[^run]\n\n[^run]: A run:\n\n    ```console\n    $ cargo run -q --example demo -- fork\n    out\n    ```\n";
        assert_eq!(blocks_of(footnote).unwrap().len(), 1);
        let tab =
            "```console\textra\n$ cargo run -q --example demo -- spawn\nout\n```\n";
        assert_eq!(blocks_of(tab).unwrap().len(), 1);
    }

    #[test]
    fn finds_a_block_with_a_longer_fence_or_tildes() {
        let four = "````console\n$ cargo run -q --example demo -- spawn\nout\n````\n";
        assert_eq!(blocks_of(four).unwrap().len(), 1);
        let tildes = "~~~console\n$ cargo run -q --example demo -- spawn\nout\n~~~\n";
        assert_eq!(blocks_of(tildes).unwrap().len(), 1);
    }

    #[test]
    fn reads_variables_set_before_the_command() {
        let blocks = blocks_of(
            "```console\n$ RUST_BACKTRACE=0 A_B=x cargo run -q --example demo -- fork\nout\n```\n",
        )
        .unwrap();
        assert_eq!(
            blocks[0].env,
            [
                ("RUST_BACKTRACE".into(), "0".into()),
                ("A_B".into(), "x".into())
            ]
        );
        assert!(matches!(blocks[0].command, Command::Example { .. }));
    }

    #[test]
    fn reads_a_python_run() {
        let blocks =
            blocks_of("```console\n$ python3 python/demo.py fork\nout\n```\n").unwrap();
        assert_eq!(
            blocks[0].command,
            Command::Python {
                interpreter: Interpreter::Any,
                script: "python/demo.py".into(),
                args: vec!["fork".into()],
            }
        );
        assert!(blocks[0].name().ends_with(":1 python3 python/demo.py fork"));
    }

    #[test]
    fn reads_a_python_run_that_names_its_version() {
        let blocks =
            blocks_of("```console\n$ python3.12 python/demo.py\nout\n```\n").unwrap();
        assert!(matches!(
            blocks[0].command,
            Command::Python {
                interpreter: Interpreter::Minor(12),
                ..
            }
        ));
        assert!(
            blocks_of("```console\n$ python3.x python/demo.py\nout\n```\n").is_err()
        );
        assert!(blocks_of("```console\n$ python3 demo.py\nout\n```\n").is_err());
    }

    #[test]
    fn reads_what_a_block_needs_from_the_comment_before_it() {
        let blocks = blocks_of(
            "<!-- needs: python3, huge pages -->\n```console\n$ cargo run -q --example demo\nout\n```\n\n\
             ```console\n$ cargo run -q --example demo\nout\n```\n",
        )
        .unwrap();
        assert_eq!(blocks[0].needs, [Need::Python3, Need::HugePages]);
        assert!(blocks[1].needs.is_empty());
        let unknown = blocks_of(
            "<!-- needs: a GPU -->\n```console\n$ cargo run -q --example demo\nout\n```\n",
        );
        assert!(unknown.unwrap_err().contains("unknown need `a GPU`"));
    }

    #[test]
    fn ignores_other_languages() {
        assert!(
            blocks_of("```rust\nfn main() {}\n```\n")
                .unwrap()
                .is_empty()
        );
    }
}

mod finding_what_a_block_needs {
    use super::machine::find_python_in;
    use super::markdown::Interpreter;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    /// A pyenv root whose versions hold a `python3.MINOR` that says it is that version.
    fn fake_pyenv(versions: &[&str]) -> std::path::PathBuf {
        let root = std::env::temp_dir()
            .join(format!("forkspawn-pyenv-{}", std::process::id()));
        for version in versions {
            let minor = version.split('.').nth(1).unwrap();
            let bin = root.join("versions").join(version).join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            let program = bin.join(format!("python3.{minor}"));
            std::fs::write(&program, format!("#!/bin/sh\necho Python {version}\n"))
                .unwrap();
            std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
        root
    }

    #[test]
    fn a_named_version_is_found_in_pyenv_newest_patch_first() {
        let root = fake_pyenv(&["3.97.1", "3.97.10", "3.96.0"]);
        let found = find_python_in(Interpreter::Minor(97), Some(&root)).unwrap();
        assert!(
            found.ends_with("versions/3.97.10/bin/python3.97"),
            "{}",
            found.display()
        );
        let missing = find_python_in(Interpreter::Minor(95), Some(&root)).unwrap_err();
        assert_eq!(
            missing,
            "no python3.95 here: install CPython 3.95 (e.g. pyenv install 3.95)"
        );
        let none =
            find_python_in(Interpreter::Minor(97), Some(Path::new("/nonexistent")));
        assert!(none.is_err());
    }
}

mod metering_load {
    use super::load::Load;

    #[test]
    fn a_run_alone_is_quiet_and_one_that_waited_for_a_cpu_is_disturbed() {
        let alone = Load {
            waited: Some(0.06),
            stolen: 0.0,
            others: 0.3,
        };
        assert_eq!(alone.disturbance(), None);
        let loaded = Load {
            waited: Some(0.32),
            stolen: 0.0,
            others: 0.0,
        };
        assert_eq!(
            loaded.disturbance().unwrap(),
            "tasks waited for a CPU 32% of the run"
        );
        let no_pressure_counter = Load {
            waited: None,
            stolen: 0.0,
            others: 0.2,
        };
        assert!(
            no_pressure_counter
                .disturbance()
                .unwrap()
                .contains("other programs used 20%")
        );
        let stolen = Load {
            waited: Some(0.0),
            stolen: 0.08,
            others: 0.0,
        };
        assert!(stolen.disturbance().unwrap().contains("hypervisor took 8%"));
    }

    #[test]
    fn metering_a_real_run_measures_something() {
        let meter = super::load::start();
        let status = std::process::Command::new("true").status().unwrap();
        assert!(status.success());
        let load = meter.stop();
        assert!(load.stolen >= 0.0 && load.others >= 0.0);
    }
}

mod comparing_transcripts {
    use super::normalise::compare;

    #[test]
    fn a_stalled_step_of_work_passes_only_where_work_may_stretch_and_a_sleep_never() {
        use super::normalise::{Clocks, compare_with};
        let book = "   ForkProcess-1 [ 0.00s] writes\n   ForkProcess-1 [ 0.04s] wrote\n\
                       ForkProcess-1 [ 1.04s] slept\n";
        let stalled = "   ForkProcess-1 [ 0.00s] writes\n   ForkProcess-1 [ 1.99s] wrote\n\
                          ForkProcess-1 [ 2.99s] slept\n";
        assert!(compare_with(book, stalled, Clocks::Strict).is_err());
        assert_eq!(compare_with(book, stalled, Clocks::WorkMayStretch), Ok(()));
        let long_sleep = "   ForkProcess-1 [ 0.00s] writes\n   ForkProcess-1 [ 0.04s] wrote\n\
                             ForkProcess-1 [ 2.04s] slept\n";
        assert!(compare_with(book, long_sleep, Clocks::WorkMayStretch).is_err());
        let faster = "   ForkProcess-1 [ 0.00s] writes\n   ForkProcess-1 [ 0.00s] wrote\n\
                         ForkProcess-1 [ 0.01s] slept\n";
        assert!(
            compare_with(book, faster, Clocks::WorkMayStretch).is_err(),
            "a lost sleep"
        );
    }

    #[test]
    fn any_cpython_version_passes_but_a_flipped_word_still_fails() {
        let book = "CPython 3.11.7\n  a child that reads every object: copied 61 MiB, most of it\n";
        let newer = "CPython 3.13.0rc1\n  a child that reads every object: copied 58 MiB, most of it\n";
        assert_eq!(compare(book, newer), Ok(()));
        let flipped = "CPython 3.12.1\n  a child that reads every object: copied 31 MiB, some of it\n";
        assert!(compare(book, flipped).unwrap_err().contains("some of it"));
        assert!(
            compare("CPython 3.11.7 on linux\n", "PyPy 3.11.7 on linux\n").is_err()
        );
    }

    #[test]
    fn a_benchmark_verdict_flipped_fails_though_its_figures_change() {
        let book = "  fork pool at 0 MiB         0.13× the spawn pool: cheaper\n\
                    the fork pool passes the spawn pool between 32 MiB and 64 MiB here\n";
        let elsewhere = "  fork pool at 0 MiB    0.33× the spawn pool: cheaper\n\
                         the fork pool passes the spawn pool between 0 MiB and 32 MiB here\n";
        assert_eq!(compare(book, elsewhere), Ok(()));
        let flipped = "  fork pool at 0 MiB         1.13× the spawn pool: dearer\n\
                       the fork pool passes the spawn pool between 32 MiB and 64 MiB here\n";
        assert!(compare(book, flipped).is_err());
    }

    const BOOK: &str = "\
MainProcess      [ 0.00s] list 0x55aa10 pid 100
MainProcess      [ 0.00s] starting
   ForkProcess-1 [ 1.00s] saw 0x55aa10 in pid 200
   ForkProcess-1 [ 1.00s] appended
   ForkProcess-2 [ 2.00s] saw 0x55aa10 in pid 300
MainProcess      [ 2.01s] finally 0x55aa10
";

    fn assert_rejected(actual: &str) -> String {
        compare(BOOK, actual).expect_err("the change should have been caught")
    }

    #[test]
    fn accepts_the_same_transcript() {
        compare(BOOK, BOOK).unwrap();
    }

    #[test]
    fn accepts_new_addresses_and_pids_with_the_same_relations() {
        let run = BOOK
            .replace("0x55aa10", "0x7f0001")
            .replace("pid 100", "pid 9")
            .replace("pid 200", "pid 10")
            .replace("pid 300", "pid 11");
        compare(BOOK, &run).unwrap();
    }

    #[test]
    fn accepts_another_interleaving_of_processes() {
        let run = "\
MainProcess      [ 0.00s] list 0x55aa10 pid 100
   ForkProcess-2 [ 2.00s] saw 0x55aa10 in pid 300
   ForkProcess-1 [ 1.00s] saw 0x55aa10 in pid 200
MainProcess      [ 0.00s] starting
   ForkProcess-1 [ 1.00s] appended
MainProcess      [ 2.01s] finally 0x55aa10
";
        compare(BOOK, run).unwrap();
    }

    #[test]
    fn accepts_times_within_the_tolerance() {
        compare(BOOK, &BOOK.replace("[ 1.00s]", "[ 1.31s]")).unwrap();
    }

    /// The same program on a busy machine: every step of work slower, and every sleep a
    /// little late, so the run falls further behind the book line after line (by 1.2 s
    /// at the end).
    #[test]
    fn accepts_a_run_that_falls_behind_step_by_step() {
        let book = "\
MainProcess      [ 0.00s] a
MainProcess      [ 0.10s] b
MainProcess      [ 1.10s] c
MainProcess      [ 1.20s] d
MainProcess      [ 2.20s] e
MainProcess      [ 2.30s] f
MainProcess      [ 3.30s] g
";
        let busy = "\
MainProcess      [ 0.00s] a
MainProcess      [ 0.40s] b
MainProcess      [ 1.55s] c
MainProcess      [ 1.95s] d
MainProcess      [ 3.10s] e
MainProcess      [ 3.45s] f
MainProcess      [ 4.50s] g
";
        compare(book, busy).unwrap();
    }

    /// Three sleeps, each 0.45 s longer than the book's: within the tolerance at each
    /// step, but not together. A busy machine delays a process's sleeps by 0.13 s at most
    /// in all (runs of the whole check, with both cores busy).
    #[test]
    fn catches_sleeps_each_made_a_little_longer() {
        let book = "\
MainProcess      [ 0.00s] a
MainProcess      [ 1.00s] b
MainProcess      [ 2.00s] c
MainProcess      [ 3.00s] d
";
        let stretched = "\
MainProcess      [ 0.00s] a
MainProcess      [ 1.45s] b
MainProcess      [ 2.90s] c
MainProcess      [ 4.35s] d
";
        let diff = compare(book, stretched).expect_err("sleeps made 1.45 s");
        assert!(diff.contains("2.90") && diff.contains("4.35"), "{diff}");
        let late = "\
MainProcess      [ 0.00s] a
MainProcess      [ 1.10s] b
MainProcess      [ 2.20s] c
MainProcess      [ 3.30s] d
";
        compare(book, late).unwrap();
    }

    /// One step 1 s longer than the book's (a sleep of 1 s made 2 s) fails, however
    /// late or early the run was before it.
    #[test]
    fn catches_a_step_made_longer_even_after_a_slow_start() {
        let book = "\
MainProcess      [ 0.00s] a
MainProcess      [ 0.10s] b
MainProcess      [ 1.10s] c
";
        let changed = "\
MainProcess      [ 0.00s] a
MainProcess      [ 0.45s] b
MainProcess      [ 2.45s] c
";
        let diff = compare(book, changed).expect_err("a sleep made longer");
        assert!(
            diff.contains("+MainProcess [ 2.45s] c") || diff.contains("2.45"),
            "{diff}"
        );
    }

    #[test]
    fn catches_a_time_outside_the_tolerance() {
        let diff = assert_rejected(&BOOK.replace("[ 2.00s]", "[ 1.00s]"));
        assert!(diff.contains("- ForkProcess-2 [ 2.00s]"), "{diff}");
        assert!(diff.contains("+ ForkProcess-2 [ 1.00s]"), "{diff}");
    }

    #[test]
    fn catches_a_changed_word() {
        let diff = assert_rejected(&BOOK.replace("appended", "appendd"));
        assert!(diff.contains("+ ForkProcess-1 [ 1.00s] appendd"), "{diff}");
    }

    #[test]
    fn catches_a_missing_line() {
        assert_rejected(&BOOK.replace("MainProcess      [ 0.00s] starting\n", ""));
    }

    #[test]
    fn catches_an_extra_line() {
        assert_rejected(&format!("{BOOK}   ForkProcess-2 [ 2.00s] again\n"));
    }

    #[test]
    fn catches_a_line_moved_to_another_process() {
        assert_rejected(&BOOK.replace(
            "   ForkProcess-1 [ 1.00s] appended",
            "   ForkProcess-2 [ 1.00s] appended",
        ));
    }

    #[test]
    fn catches_an_address_made_different_from_an_equal_one() {
        // The book shows one list in every process; a run showing a second list must
        // fail.
        let run = BOOK.replace("saw 0x55aa10 in pid 300", "saw 0x66bb20 in pid 300");
        let diff = assert_rejected(&run);
        assert!(diff.contains("<addr 2>"), "{diff}");
    }

    #[test]
    fn catches_an_address_made_equal_to_a_different_one() {
        let book =
            "MainProcess [ 0.00s] a 0x1000\n  SpawnProcess-1 [ 0.00s] b 0x2000\n";
        let run = "MainProcess [ 0.00s] a 0x3000\n  SpawnProcess-1 [ 0.00s] b 0x3000\n";
        compare(book, run).unwrap_err();
    }

    #[test]
    fn catches_pids_made_equal() {
        compare(BOOK, &BOOK.replace("pid 300", "pid 200")).unwrap_err();
    }

    #[test]
    fn catches_a_swap_inside_one_process() {
        let run = BOOK.replace(
            "MainProcess      [ 0.00s] list 0x55aa10 pid 100\nMainProcess      [ 0.00s] starting\n",
            "MainProcess      [ 0.00s] starting\nMainProcess      [ 0.00s] list 0x55aa10 pid 100\n",
        );
        assert_rejected(&run);
    }

    #[test]
    fn lines_without_a_process_keep_their_order() {
        compare("a\nb\n", "b\na\n").unwrap_err();
        compare(
            "error: x\n[exit status: 1]\n",
            "error: x\n[exit status: 1]\n",
        )
        .unwrap();
        compare("[exit status: 1]\n", "[exit status: 2]\n").unwrap_err();
    }

    const MEASURED: &str = "\
MainProcess      [ 0.00s] process          RSS        PSS        USS
MainProcess      [ 0.10s] MainProcess  258.4 MiB   88.1 MiB    2.3 MiB
   ForkProcess-1 [ 0.10s] wrote 16384 pages: 16391 faults in 12 ms
   ForkProcess-1 [ 0.10s] fd 3 -> pipe:[5511], fd 4 -> pipe:[5511], fd 5 -> socket:[5530]
";

    #[test]
    fn accepts_other_digits_of_a_measurement_and_other_spacing() {
        let run = MEASURED
            .replace(" 258.4 MiB   88.1 MiB", " 1258.4 MiB 188.1 MiB")
            .replace("16391 faults in 12 ms", "16402 faults in 9 ms")
            .replace("pipe:[5511]", "pipe:[70]")
            .replace("socket:[5530]", "socket:[71]");
        compare(MEASURED, &run).unwrap();
    }

    #[test]
    fn ratios_are_measurements() {
        compare(
            "spawn: 59.25× (target: at least 20×)\n",
            "spawn: 61.2× (target: at least 20×)\n",
        )
        .unwrap();
        // The threshold's digits vary too, by the same rule; the words around it do not.
        compare("at most 2×)\n", "at least 2×)\n").unwrap_err();
    }

    #[test]
    fn one_fault_and_two_faults_are_the_same_unit() {
        compare("took 1 fault\n", "took 2 faults\n").unwrap();
    }

    #[test]
    fn catches_a_changed_unit() {
        compare(MEASURED, &MEASURED.replace("2.3 MiB", "2.3 KiB")).unwrap_err();
        compare(MEASURED, &MEASURED.replace("in 12 ms", "in 12 µs")).unwrap_err();
    }

    #[test]
    fn catches_a_number_that_is_not_a_measurement() {
        // Page counts are exact: the program decides them.
        compare(MEASURED, &MEASURED.replace("16384 pages", "16385 pages")).unwrap_err();
    }

    #[test]
    fn catches_an_inode_made_different_from_an_equal_one() {
        // Both ends of one pipe share its inode; two pipes would not.
        let run = MEASURED.replace("fd 4 -> pipe:[5511]", "fd 4 -> pipe:[5512]");
        compare(MEASURED, &run).unwrap_err();
    }
}
