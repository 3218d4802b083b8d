//! `nettune profile render` read back by the engines' own code: tuned's profile loader
//! (Debian's `tuned` package, Python) loads the rendered tuned.conf and sees the same
//! values; `kubernetes-validate` (PyPI) accepts the rendered Pod against the Kubernetes
//! schema; `nettune profile import --from tuned` reads it back to the same profile. .ci/run
//! installs both engines.

use std::process::Command;

use serde_json::Value;
use testkit::in_ci;

const BIN: &str = env!("CARGO_BIN_EXE_nettune");

const PROFILE: &str = "name = \"edge\"\n\
    [sysctl]\n\"net.core.somaxconn\" = 4096\n\"net.core.rmem_max\" = \">33554432\"\n\
    \"net.ipv4.tcp_wmem\" = \">4096 16384 16777216\"\n\"net.ipv4.tcp_keepalive_time\" = 60\n\
    \"net.ipv4.tcp_fin_timeout\" = 15\n\"net.ipv4.tcp_rmem\" = \"4096 131072 16777216\"\n\
    [nic.eth0]\noffloads = { gro = true, lro = false }\ncoalesce = { rx_usecs = 8 }\nrings = { rx = 1024 }\n\
    rps = { \"0\" = \"0-1\" }\n\
    [mptcp]\nlimits = { subflows = 2, add_addr_accepted = 2 }\n";

/// Whether `program` runs here; under CI it must.
fn have(program: &str, probe: &[&str]) -> bool {
    let ok = Command::new(program)
        .args(probe)
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok || !in_ci(), "{program} is missing: .ci/run installs it");
    if !ok {
        println!("SKIP: {program} is not installed");
    }
    ok
}

fn render(profile: &std::path::Path, to: &str, extra: &[&str]) -> (String, String) {
    let out = Command::new(BIN)
        .args(["profile", "render"])
        .arg(profile)
        .args(["--to", to])
        .args(extra)
        .output()
        .expect("render");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Loads profile `name` from `dir` with tuned's own loader; returns its units as JSON.
const TUNED_LOAD: &str = r#"
import json, sys
sys.path.insert(0, "/usr/lib/python3/dist-packages")
import tuned.profiles as profiles
import tuned.profiles.variables as variables
import tuned.utils.global_config as global_config
loader = profiles.Loader(profiles.Locator([sys.argv[1]]), profiles.Factory(), profiles.Merger(),
                         global_config.GlobalConfig(), variables.Variables())
p = loader.load(sys.argv[2])
print(json.dumps({n: {"type": u.type, "devices": u.devices, "options": dict(u.options)}
                  for n, u in p.units.items()}))
"#;

#[test]
fn tuneds_own_loader_reads_the_rendered_profile_and_import_reads_it_back() {
    if !have(
        "/usr/bin/python3",
        &[
            "-c",
            "import sys; sys.path.insert(0, '/usr/lib/python3/dist-packages'); import tuned.profiles",
        ],
    ) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("edge.toml");
    std::fs::write(&src, PROFILE).expect("write");
    let (text, stderr) = render(&src, "tuned", &[]);
    // What tuned cannot carry is named, item by item.
    assert!(stderr.contains("not in tuned: nic eth0 rps:"), "{stderr}");
    assert!(stderr.contains("not in tuned: mptcp limits:"), "{stderr}");
    assert!(
        stderr.contains("not in tuned: net.ipv4.tcp_wmem: tuned's > and < compare one integer"),
        "{stderr}"
    );
    let pdir = dir.path().join("nettune-edge");
    std::fs::create_dir(&pdir).expect("mkdir");
    std::fs::write(pdir.join("tuned.conf"), &text).expect("write");
    let out = Command::new("/usr/bin/python3")
        .args(["-c", TUNED_LOAD])
        .arg(dir.path())
        .arg("nettune-edge")
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "tuned's loader: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let units: Value = serde_json::from_slice(&out.stdout).expect("json");
    let sysctl = &units["sysctl"]["options"];
    assert_eq!(sysctl["net.core.somaxconn"], "4096");
    assert_eq!(sysctl["net.core.rmem_max"], ">33554432");
    assert_eq!(sysctl["net.ipv4.tcp_keepalive_time"], "60");
    assert_eq!(sysctl["net.ipv4.tcp_rmem"], "4096 131072 16777216");
    let net = &units["net_eth0"];
    assert_eq!(net["type"], "net");
    assert_eq!(net["devices"], "eth0");
    assert_eq!(net["options"]["features"], "gro on lro off");
    assert_eq!(net["options"]["coalesce"], "rx-usecs 8");
    assert_eq!(net["options"]["ring"], "rx 1024");
    // And back: the same sysctls and NIC settings as the source profile.
    let file = pdir.join("tuned.conf");
    let out = Command::new(BIN)
        .args(["profile", "import", "--from", "tuned"])
        .arg(&file)
        .output()
        .expect("import");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let back =
        nettune::Profile::from_toml("back", &String::from_utf8_lossy(&out.stdout)).expect("toml");
    let source = nettune::Profile::from_toml("edge", PROFILE).expect("profile");
    let pairs = |p: &nettune::Profile| -> Vec<(String, String)> {
        p.sysctls()
            .iter()
            .map(|r| (r.key.to_string(), r.want.to_string()))
            .collect()
    };
    // All of them but the vector bound tuned cannot carry (reported above).
    let mut want = pairs(&source);
    want.retain(|(k, _)| k != "net.ipv4.tcp_wmem");
    assert_eq!(pairs(&back), want);
    let eth0 = nettune::nic::IfName::new("eth0").expect("name");
    assert_eq!(back.nics()[&eth0].offloads, source.nics()[&eth0].offloads);
    assert_eq!(back.nics()[&eth0].coalesce, source.nics()[&eth0].coalesce);
    assert_eq!(back.nics()[&eth0].rings, source.nics()[&eth0].rings);
}

#[test]
fn the_rendered_pod_validates_against_the_kubernetes_schema() {
    if !have("python3", &["-m", "kubernetes_validate", "--version"]) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("edge.toml");
    std::fs::write(&src, PROFILE).expect("write");
    for version in ["1.29", "1.32"] {
        let (text, stderr) = render(&src, "k8s-pod", &["--kubernetes", version]);
        let file = dir.path().join(format!("pod-{version}.yaml"));
        std::fs::write(&file, &text).expect("write");
        let out = Command::new("python3")
            .args([
                "-m",
                "kubernetes_validate",
                "--strict",
                "-k",
                &format!("{version}.0"),
            ])
            .arg(&file)
            .output()
            .expect("kubernetes-validate");
        assert!(
            out.status.success(),
            "{text}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("name: net.ipv4.tcp_keepalive_time"), "{text}");
        // tcp_rmem is safe for pods from 1.32 only; somaxconn never is.
        assert_eq!(
            text.contains("name: net.ipv4.tcp_rmem"),
            version == "1.32",
            "{text}"
        );
        assert!(
            stderr.contains(
                "not in k8s-pod: net.core.somaxconn: namespaced but not on the kubelet's safe list"
            ),
            "{stderr}"
        );
        assert!(
            stderr.contains("not in k8s-pod: net.core.rmem_max:"),
            "{stderr}"
        );
    }
    // A bad document is refused by the same validator: the check can fail.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  securityContext:\n    sysctls: 5\n  containers: []\n").expect("write");
    let out = Command::new("python3")
        .args(["-m", "kubernetes_validate", "--strict", "-k", "1.32.0"])
        .arg(&bad)
        .output()
        .expect("kubernetes-validate");
    assert!(!out.status.success());
}
