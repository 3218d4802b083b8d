//! `nettune profile render` read back by the engines' own code: tuned's profile loader
//! (Debian's `tuned` package, Python) loads the rendered tuned.conf and sees the same
//! values; `kubernetes-validate` (PyPI) accepts the rendered Pod against the Kubernetes
//! schema; `nettune profile import --from tuned` reads it back to the same profile; udev
//! (`udevadm test-builtin net_setup_link`) parses and applies the rendered `.link` file in
//! a namespace, with the same result as `nettune apply`; `ansible-playbook` runs the
//! rendered task list in a namespace, and a second run changes nothing; libnm's keyfile
//! reader keeps every option of the rendered NetworkManager `[ethtool]` section; the
//! OpenShift `Tuned` resource's metadata passes Kubernetes' schema, its spec the Node
//! Tuning Operator's types, and tuned's loader reads the profile it carries. .ci/run
//! installs every engine.

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

/// Debian's own Python: tuned and the GObject bindings are Debian packages.
const DEBIAN_PY: &str = "/usr/bin/python3";

/// Whether tuned's Python loader is there (under CI it must be).
fn have_tuned() -> bool {
    have(
        DEBIAN_PY,
        &[
            "-c",
            "import sys; sys.path.insert(0, '/usr/lib/python3/dist-packages'); import tuned.profiles",
        ],
    )
}

/// Profile `name` of `dir` loaded by tuned's own loader ([`TUNED_LOAD`]): its units.
fn tuned_load(dir: &std::path::Path, name: &str) -> Value {
    let out = Command::new(DEBIAN_PY)
        .args(["-c", TUNED_LOAD])
        .arg(dir)
        .arg(name)
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "tuned's loader: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

#[test]
fn tuneds_own_loader_reads_the_rendered_profile_and_import_reads_it_back() {
    if !have_tuned() {
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
    let units = tuned_load(dir.path(), "nettune-edge");
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

/// `ethtool ARGS IFACE` in `ns`, as text.
fn ethtool(ns: &testkit::TestNs, args: &[&str]) -> String {
    let out = ns.exec("ethtool", args);
    assert!(out.status.success(), "ethtool {args:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value ethtool shows for `name` (`generic-receive-offload: on [fixed]` -> `on`).
fn feature(text: &str, name: &str) -> String {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{name}: ")))
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or_else(|| panic!("{name} not in ethtool -k:\n{text}"))
        .to_owned()
}

/// The current RX channel count of `ethtool -l`.
fn rx_channels(text: &str) -> String {
    let current = text
        .split("Current hardware settings:")
        .nth(1)
        .expect("current");
    current
        .lines()
        .find_map(|l| l.trim().strip_prefix("RX:"))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("no RX in ethtool -l:\n{text}"))
}

const LINK_PROFILE: &str = "name = \"link\"\n[nic.IFACE]\n\
    offloads = { gro = true, tso = false, \"tx-udp-segmentation\" = false }\nchannels = { rx = 2 }\n";

#[test]
fn udev_applies_the_rendered_link_file_as_nettune_apply_does() {
    if !testkit::require_root("udev_applies_the_rendered_link_file_as_nettune_apply_does")
        || !have("udevadm", &["--version"])
    {
        return;
    }
    assert!(
        std::path::Path::new("/etc/systemd/network").is_dir(),
        "/etc/systemd/network (from systemd) is missing"
    );
    let ns = testkit::TestNs::new();
    ns.sh("ip link add ul0 type veth peer name ul1 && ip link add ul2 type veth peer name ul3");
    let dir = tempfile::tempdir().expect("tempdir");
    let links = dir.path().join("network");
    std::fs::create_dir(&links).expect("mkdir");
    let src = dir.path().join("link.toml");
    std::fs::write(&src, LINK_PROFILE.replace("IFACE", "ul0")).expect("write");
    let (stdout, stderr) = render(
        &src,
        "systemd-link",
        &["--out", links.to_str().expect("utf-8")],
    );
    let file = links.join("10-nettune-ul0.link");
    assert_eq!(stdout.trim(), format!("wrote {}", file.display()));
    assert!(
        stderr.contains("not in systemd-link: nic ul0 offload tx-udp-segmentation"),
        "{stderr}"
    );
    let before = ethtool(&ns, &["-k", "ul0"]);
    assert_eq!(feature(&before, "generic-receive-offload"), "off");
    assert_eq!(feature(&before, "tx-tcp-segmentation"), "on");
    // udev's own parser and applier, with only our file in its configuration directory
    // (a bind mount in the mount namespace `ip netns exec` made).
    let udev = ns.sh(&format!(
        "mount --bind {} /etc/systemd/network && \
         {{ ! test -d /run/systemd/network || mount -t tmpfs none /run/systemd/network; }} && \
         udevadm test-builtin net_setup_link /sys/class/net/ul0 2>&1",
        links.display()
    ));
    assert!(
        udev.contains(&format!(
            "Config file {} is applied",
            "/etc/systemd/network/10-nettune-ul0.link"
        )),
        "{udev}"
    );
    // nettune apply of the same settings on a twin device.
    let twin = dir.path().join("twin.toml");
    std::fs::write(&twin, LINK_PROFILE.replace("IFACE", "ul2")).expect("write");
    let out = Command::new(BIN)
        .args(["apply", "--netns", ns.name(), "--profile"])
        .arg(&twin)
        .arg("--journal")
        .arg(dir.path().join("journal"))
        .output()
        .expect("apply");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (by_udev, by_nettune) = (ethtool(&ns, &["-k", "ul0"]), ethtool(&ns, &["-k", "ul2"]));
    for f in ["generic-receive-offload", "tx-tcp-segmentation"] {
        assert_eq!(feature(&by_udev, f), feature(&by_nettune, f), "{f}");
    }
    assert_eq!(feature(&by_udev, "generic-receive-offload"), "on");
    assert_eq!(feature(&by_udev, "tx-tcp-segmentation"), "off");
    assert_eq!(rx_channels(&ethtool(&ns, &["-l", "ul0"])), "2");
    assert_eq!(rx_channels(&ethtool(&ns, &["-l", "ul2"])), "2");
}

const ANSIBLE_PROFILE: &str = "name = \"fleet edge\"\n[sysctl]\n\
    \"net.core.somaxconn\" = 8192\n\"net.ipv4.tcp_rmem\" = \"4096 131072 6291456\"\n\
    \"net.ipv4.tcp_fin_timeout\" = { at_most = \"30\", why = \"recycle sooner\" }\n\
    [nic.al0]\noffloads = { gro = true }\n";

/// The Python that runs ansible (`python3` may be a pyenv shim, which ansible's
/// interpreter discovery mistakes for a versioned binary).
fn python() -> String {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Runs the playbook inside `ns`; returns the recap's `changed=` count.
fn playbook(ns: &testkit::TestNs, dir: &std::path::Path, vars: &str) -> u32 {
    let out = ns
        .command("ansible-playbook")
        .args(["-i", "localhost,", "-e", vars])
        .arg(dir.join("play.yml"))
        .env("ANSIBLE_HOME", dir.join("ansible-home"))
        .env("ANSIBLE_LOCAL_TEMP", dir.join("ansible-tmp"))
        .env("ANSIBLE_PYTHON_INTERPRETER", python())
        .env("ANSIBLE_NOCOLOR", "1")
        .output()
        .expect("ansible-playbook");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recap = text.split("PLAY RECAP").nth(1).expect("recap");
    assert!(recap.contains("failed=0"), "{text}");
    recap
        .split_whitespace()
        .find_map(|w| w.strip_prefix("changed="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no changed= in {recap}"))
}

#[test]
fn the_rendered_ansible_tasks_run_in_a_namespace_and_are_idempotent() {
    if !testkit::require_root("the_rendered_ansible_tasks_run_in_a_namespace_and_are_idempotent")
        || !have("ansible-playbook", &["--version"])
    {
        return;
    }
    let ns = testkit::TestNs::new();
    ns.sh("ip link add al0 type veth peer name al1");
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("edge.toml");
    std::fs::write(&src, ANSIBLE_PROFILE).expect("write");
    let (tasks, stderr) = render(&src, "ansible", &[]);
    assert!(stderr.is_empty(), "everything is carried: {stderr}");
    std::fs::write(dir.path().join("tasks.yml"), &tasks).expect("write");
    std::fs::write(
        dir.path().join("play.yml"),
        "- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n    - ansible.builtin.import_tasks: tasks.yml\n",
    )
    .expect("write");
    let sysctl_file = dir.path().join("sysctl.d/90-edge.conf");
    std::fs::create_dir(dir.path().join("sysctl.d")).expect("mkdir");
    let vars = serde_json::json!({
        "nettune_sysctl_file": sysctl_file,
        "nettune_profile_file": dir.path().join("etc/edge.toml"),
        "nettune_bin": BIN,
        "nettune_apply_args": ["--journal", dir.path().join("journal")],
    })
    .to_string();
    assert_eq!(
        feature(&ethtool(&ns, &["-k", "al0"]), "generic-receive-offload"),
        "off"
    );
    let first = playbook(&ns, dir.path(), &vars);
    // Two sysctl tasks, the directory, the file, and nettune apply changed something.
    assert_eq!(first, 5, "first run");
    let sysctl = |key: &str| {
        let out = ns.exec("sysctl", &["-n", key]);
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(sysctl("net.core.somaxconn"), "8192");
    assert_eq!(sysctl("net.ipv4.tcp_rmem"), "4096 131072 6291456");
    assert_eq!(sysctl("net.ipv4.tcp_fin_timeout"), "30");
    assert_eq!(
        feature(&ethtool(&ns, &["-k", "al0"]), "generic-receive-offload"),
        "on"
    );
    let file = std::fs::read_to_string(&sysctl_file).expect("sysctl file");
    assert!(file.contains("net.core.somaxconn=8192"), "{file}");
    // The apply step's copy of the rest is a profile nettune reads.
    let rest = std::fs::read_to_string(dir.path().join("etc/edge.toml")).expect("rest");
    let p = nettune::Profile::from_toml("rest", &rest).expect("profile");
    assert_eq!(p.sysctls().len(), 1, "only the bound: {rest}");
    assert_eq!(
        playbook(&ns, dir.path(), &vars),
        0,
        "second run changes nothing"
    );
    // Drift brought back by the next run, which then says it changed one thing.
    ns.sh("sysctl -qw net.ipv4.tcp_fin_timeout=60");
    assert_eq!(playbook(&ns, dir.path(), &vars), 1, "drift repaired");
    assert_eq!(sysctl("net.ipv4.tcp_fin_timeout"), "30");
}

/// Reads a NetworkManager keyfile with libnm's own keyfile reader (`nm_keyfile_read`,
/// through GObject introspection; Debian's python3-gi and gir1.2-nm-1.0), verifies the
/// connection, and prints its interface and every `[ethtool]` option NetworkManager kept,
/// as JSON. NetworkManager drops options it does not know without a word: comparing what
/// it kept with what was rendered is the check.
const NM_READ: &str = r#"
import gi, json, sys
gi.require_version("NM", "1.0")
from gi.repository import NM, GLib
text = open(sys.argv[1]).read()
kf = GLib.KeyFile()
kf.load_from_data(text, len(text.encode()), GLib.KeyFileFlags.NONE)
c = NM.keyfile_read(kf, "/tmp", NM.KeyfileHandlerFlags.NONE, None, None)
c.verify()
s = c.get_setting_by_name("ethtool")
out = {"interface": c.get_interface_name(), "options": {}}
for n in NM.SettingEthtool.get_optnames(s)[0]:
    if n.startswith("feature-") or n.startswith("pause-"):
        ok, v = s.option_get_boolean(n)
    else:
        ok, v = s.option_get_uint32(n)
    assert ok, n
    out["options"][n] = v
print(json.dumps(out))
"#;

/// `section` in the smallest connection that verifies, read by libnm ([`NM_READ`]).
fn nm_read(dir: &std::path::Path, section: &str) -> Value {
    let keyfile = dir.join("eth0.nmconnection");
    std::fs::write(
        &keyfile,
        format!(
            "[connection]\nid=eth0\nuuid=0b7a2b6c-3a4f-4d8e-9f1a-2c3d4e5f6a7b\ntype=ethernet\ninterface-name=eth0\n\n[ethernet]\n\n{section}"
        ),
    )
    .expect("write");
    let read = Command::new(DEBIAN_PY)
        .args(["-W", "ignore", "-c", NM_READ])
        .arg(&keyfile)
        .output()
        .expect("python3");
    assert!(
        read.status.success(),
        "{section}\n{}",
        String::from_utf8_lossy(&read.stderr)
    );
    serde_json::from_slice(&read.stdout).expect("json")
}

#[test]
fn the_networkmanager_section_is_read_back_by_libnm() {
    if !have(
        DEBIAN_PY,
        &["-c", "import gi; gi.require_version('NM', '1.0')"],
    ) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("nm.toml");
    std::fs::write(
        &src,
        "name = \"nm\"\n[sysctl]\n\"net.core.somaxconn\" = 4096\n[nic.eth0]\n\
         offloads = { gro = true, lro = false, \"rx-checksum\" = true, \"tx-checksum-ipv4\" = false, \"rx-gro-hw\" = false, \"rx-nosuch-offload\" = true }\n\
         coalesce = { rx_usecs = 8, tx_frames = 16, use_adaptive_rx = 1 }\n\
         rings = { rx = 1024, tx = 512 }\nchannels = { combined = 4 }\nrps = { \"0\" = \"0-1\" }\n",
    )
    .expect("write");
    let out = Command::new(BIN)
        .args(["--json", "profile", "render"])
        .arg(&src)
        .args(["--to", "networkmanager"])
        .output()
        .expect("render");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).expect("json");
    let section = r["files"][0]["text"].as_str().expect("the eth0 section");
    assert_eq!(r["files"][0]["name"], "eth0.ethtool.nmconnection");
    let got = nm_read(dir.path(), section);
    assert_eq!(got["interface"], "eth0");
    let want = serde_json::json!({
        "feature-gro": true, "feature-lro": false, "feature-rx": true,
        "feature-tx-checksum-ipv4": false, "feature-rx-gro-hw": false,
        "coalesce-rx-usecs": 8, "coalesce-tx-frames": 16, "coalesce-adaptive-rx": 1,
        "ring-rx": 1024, "ring-tx": 512,
    });
    assert_eq!(got["options"], want, "{section}");
    // What NetworkManager 1.42 cannot carry is listed, item by item.
    let unexpressed: Vec<&str> = r["unexpressed"]
        .as_array()
        .expect("unexpressed")
        .iter()
        .filter_map(|u| u["item"].as_str())
        .collect();
    for item in [
        "nic eth0 offload rx-nosuch-offload",
        "nic eth0 channels combined",
        "nic eth0 rps",
        "net.core.somaxconn",
    ] {
        assert!(unexpressed.contains(&item), "{item}: {unexpressed:?}");
    }
    // Every feature name the renderer gives NetworkManager is one libnm keeps.
    let all = dir.path().join("all.toml");
    let offloads: Vec<String> = nettune::render::NM_FEATURES
        .iter()
        .map(|f| format!("\"{f}\" = true"))
        .collect();
    std::fs::write(
        &all,
        format!("[nic.eth0]\noffloads = {{ {} }}\n", offloads.join(", ")),
    )
    .expect("write");
    let (section, _) = render(&all, "networkmanager", &[]);
    let got = nm_read(dir.path(), &section);
    assert_eq!(
        got["options"].as_object().map(serde_json::Map::len),
        Some(nettune::render::NM_FEATURES.len()),
        "{section}\n{got}"
    );
    // From 1.46 channels are expressed.
    let (text, _) = render(&src, "networkmanager", &["--networkmanager", "1.46"]);
    assert!(text.contains("channels-combined=4"), "{text}");
}

/// Reads a rendered `Tuned` resource: its metadata through Kubernetes' own ObjectMeta
/// schema (kubernetes-validate, strict, on a ConfigMap carrying it: there is no schema
/// of the CRD offline), its spec against the Node Tuning Operator's API types
/// (tuned.openshift.io/v1 TunedSpec: profile [{name, data}], recommend [{profile,
/// priority, match [{label, value, type node|pod, match}]}]); prints the spec as JSON.
const TUNED_CR_READ: &str = r#"
import json, sys, yaml, kubernetes_validate
docs = list(yaml.safe_load_all(open(sys.argv[1])))
assert len(docs) == 1, docs
cr = docs[0]
assert cr["apiVersion"] == "tuned.openshift.io/v1" and cr["kind"] == "Tuned", cr
assert set(cr) <= {"apiVersion", "kind", "metadata", "spec"}, set(cr)
kubernetes_validate.validate({"apiVersion": "v1", "kind": "ConfigMap", "metadata": cr["metadata"]}, sys.argv[2], strict=True)
spec = cr["spec"]
assert set(spec) <= {"profile", "recommend"}, spec
for p in spec["profile"]:
    assert set(p) == {"name", "data"} and all(isinstance(v, str) for v in p.values()), p
def check_match(m):
    assert set(m) <= {"label", "value", "type", "match"} and isinstance(m["label"], str), m
    assert m.get("type", "node") in ("node", "pod"), m
    for inner in m.get("match", []):
        check_match(inner)
names = {p["name"] for p in spec["profile"]}
for r in spec["recommend"]:
    assert set(r) <= {"profile", "priority", "match", "machineConfigLabels", "operand"}, r
    assert r["profile"] in names, r
    assert isinstance(r["priority"], int) and r["priority"] >= 0, r
    for m in r.get("match", []):
        check_match(m)
print(json.dumps(spec))
"#;

#[test]
fn the_openshift_tuned_resource_carries_a_profile_tuneds_loader_reads() {
    if !have("python3", &["-c", "import yaml, kubernetes_validate"]) || !have_tuned() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let read = |toml: &str, name: &str| {
        let src = dir.path().join(format!("{name}.toml"));
        std::fs::write(&src, toml).expect("write");
        let (text, stderr) = render(&src, "openshift-tuned", &[]);
        let file = dir.path().join(format!("{name}-tuned.yaml"));
        std::fs::write(&file, &text).expect("write");
        let out = Command::new("python3")
            .args(["-c", TUNED_CR_READ])
            .arg(&file)
            .arg("1.32")
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let spec: Value = serde_json::from_slice(&out.stdout).expect("json");
        (spec, stderr)
    };
    let (spec, stderr) = read(PROFILE, "edge");
    assert_eq!(spec["recommend"][0]["profile"], "nettune-edge");
    assert_eq!(spec["recommend"][0]["priority"], 20);
    assert!(
        spec["recommend"][0].get("match").is_none(),
        "no [match]: every node"
    );
    assert!(
        stderr.contains("not in openshift-tuned: nic eth0 rps:"),
        "{stderr}"
    );
    // The embedded profile, over a stand-in for the operator's openshift-node, through
    // tuned's own loader.
    let data = spec["profile"][0]["data"].as_str().expect("data");
    assert!(data.contains("include=openshift-node"), "{data}");
    for (name, conf) in [
        (
            "openshift-node",
            "[main]\nsummary=stand-in\n[sysctl]\nnet.core.somaxconn=1024\n",
        ),
        ("nettune-edge", data),
    ] {
        std::fs::create_dir_all(dir.path().join(name)).expect("mkdir");
        std::fs::write(dir.path().join(name).join("tuned.conf"), conf).expect("write");
    }
    let units = tuned_load(dir.path(), "nettune-edge");
    assert_eq!(
        units["sysctl"]["options"]["net.core.somaxconn"], "4096",
        "ours over the included profile's"
    );
    assert_eq!(units["net_eth0"]["options"]["features"], "gro on lro off");
    // Exact host names become a hostname label match; anything else matches a label the
    // operator puts on the nodes, never every node.
    let exact = format!("{PROFILE}[match]\nhostname = [\"node-a\", \"node-b\"]\n");
    let (spec, _) = read(&exact, "exact");
    let labels: Vec<(String, String)> = spec["recommend"][0]["match"]
        .as_array()
        .expect("match")
        .iter()
        .map(|m| (m["label"].to_string(), m["value"].to_string()))
        .collect();
    assert_eq!(
        labels,
        [
            ("\"kubernetes.io/hostname\"".into(), "\"node-a\"".into()),
            ("\"kubernetes.io/hostname\"".into(), "\"node-b\"".into())
        ]
    );
    let pattern = format!("{PROFILE}[match]\nhostname = \"edge-*\"\ndriver = \"ixgbe\"\n");
    let (spec, stderr) = read(&pattern, "pattern");
    assert_eq!(
        spec["recommend"][0]["match"][0]["label"],
        "nettune.io/profile"
    );
    assert_eq!(spec["recommend"][0]["match"][0]["value"], "nettune-edge");
    for item in ["match hostname edge-*", "match driver ixgbe"] {
        assert!(
            stderr.contains(&format!("not in openshift-tuned: {item}:")),
            "{stderr}"
        );
    }
}
