//! `sockets --all` against `ss`: the TIME_WAIT that an active close leaves
//! is the one `ss -tan` shows for the same connection, and the rows no
//! handle holds are the kernel's, not invented ones.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_sockrepl");

/// A connection whose client closes first: its side ends in TIME_WAIT.
const ACTIVE_CLOSE: &str = "\
socket srv tcp
bind srv 127.0.0.1:0
listen srv
socket cli tcp
connect cli ${srv.addr}
accept srv conn
close cli
expect_eof conn
close conn
sockets --all
";

/// Runs a script (kernel-chosen ports, shown as they are) from stdin.
fn run(script: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(["run", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sockrepl starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}");
    stdout
}

/// The (local, foreign) addresses of the table's rows in `state` that no
/// handle holds (Name `-`).
fn unheld(transcript: &str, state: &str) -> Vec<(String, String)> {
    transcript
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|cells| cells.len() >= 7 && cells[0] == "-" && cells[6] == state)
        .map(|cells| (cells[4].to_string(), cells[5].to_string()))
        .collect()
}

/// `ss -Htan state time-wait`: (local, peer) of each row.
fn ss_time_waits() -> Option<Vec<(String, String)>> {
    let output = Command::new("ss")
        .args(["-H", "-t", "-a", "-n", "state", "time-wait"])
        .output()
        .ok()?;
    assert!(output.status.success(), "ss failed: {output:?}");
    Some(
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|line| line.split_whitespace().collect::<Vec<_>>())
            // Recv-Q Send-Q Local Peer (the state column is left out).
            .filter(|cells| cells.len() >= 4)
            .map(|cells| (cells[2].to_string(), cells[3].to_string()))
            .collect(),
    )
}

#[test]
fn sockets_all_shows_the_time_wait_that_ss_shows() {
    let transcript = run(ACTIVE_CLOSE);
    let ours = unheld(&transcript, "TIME_WAIT");
    assert_eq!(ours.len(), 1, "one TIME_WAIT row:\n{transcript}");
    let Some(theirs) = ss_time_waits() else {
        eprintln!("skipped the comparison: ss (iproute2) is not installed");
        return;
    };
    // The TIME_WAIT outlives the script by a minute: ss sees it now.
    assert!(
        theirs.contains(&ours[0]),
        "ss -tan shows no TIME_WAIT {:?}; it shows {theirs:?}\n{transcript}",
        ours[0]
    );
    // It is the client's side: the server's listening port is its peer.
    let server = transcript
        .lines()
        .find_map(|line| line.strip_prefix("listening on "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap();
    assert_eq!(ours[0].1, server, "{transcript}");
}

#[test]
fn a_connection_not_yet_accepted_is_listed_without_a_handle() {
    let transcript = run("\
socket srv tcp
bind srv 127.0.0.1:0
listen srv
socket cli tcp
connect cli ${srv.addr}
sockets --all
");
    let connected = transcript
        .lines()
        .find_map(|line| line.strip_prefix("connected "))
        .unwrap();
    let (client, server) = connected.split_once(" -> ").unwrap();
    assert_eq!(
        unheld(&transcript, "ESTABLISHED"),
        [(server.to_string(), client.to_string())],
        "{transcript}"
    );
}
