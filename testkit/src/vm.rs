//! A small VM with real NIC drivers, for what veth, tap and lo cannot show: RSS tables and
//! keys, flow hashing, rings, several channels, n-tuple rules, driver statistics, link
//! settings, private flags.
//!
//! [`Vm::boot`] packs a program (usually the calling test binary), a static busybox,
//! `ethtool` and their shared libraries into an initramfs, and boots the kit's Debian kernel
//! under qemu with two NICs:
//!
//! - `eth0`: virtio-net with 4 queue pairs and RSS (`mq=on,rss=on`), on a multiqueue tap
//!   that qemu creates inside a namespace of the test's own ([`TestNs`]), so nothing of the
//!   host's network is touched;
//! - `eth1`: an Intel 82576 (qemu's `igb` model, Linux's `igb` driver), on qemu's user
//!   network with `restrict=on` (no way out).
//!
//! The guest's init loads the drivers, runs the program with `NETTUNE_VM_GUEST=1` and prints
//! its exit status; the console is returned in [`Boot`]. KVM is used when `/dev/kvm` works
//! (a nested host whose KVM cannot run the guest is detected and the boot is redone), TCG
//! otherwise.
//!
//! The kit (qemu, busybox, kernels and their modules) is prepared by `.ci/vm-kit` into
//! `$NETTUNE_VM_KIT/kernels/RELEASE` (default `/var/cache/nettune-vm`): Debian's 6.12 from
//! bookworm-backports and 7.x from trixie-backports, so that the checks run against a
//! kernel from before and after the ethtool changes of 6.17 and 6.18.

use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::{Killed, TestNs, in_ci};

/// The environment variable the guest program sees set to `1`.
pub const GUEST_ENV: &str = "NETTUNE_VM_GUEST";

/// The modules the guest loads, in dependency order (as `.ci/vm-kit` unpacks them).
const MODULES: [&str; 6] = [
    "failover",
    "net_failover",
    "virtio_net",
    "dca",
    "i2c-algo-bit",
    "igb",
];

/// The line the guest's init prints after the program: `NETTUNE-VM-EXIT <status>`.
const EXIT_MARK: &str = "NETTUNE-VM-EXIT ";

/// One prepared kernel and its modules.
#[derive(Debug, Clone)]
pub struct Kit {
    dir: PathBuf,
    /// The kernel release (`uname -r` in the guest).
    pub release: String,
    /// The Debian suite it came from.
    pub suite: String,
}

impl Kit {
    /// Every kernel in `$NETTUNE_VM_KIT/kernels` (default `/var/cache/nettune-vm`), oldest
    /// release first.
    ///
    /// Outside CI, no kit prints `SKIP <test>: no VM kit (run .ci/vm-kit)` and gives none.
    ///
    /// # Panics
    ///
    /// Under `CI=true` when there is no kernel, or qemu or busybox is missing: CI prepares
    /// them, and no test skips.
    pub fn all(test: &str) -> Vec<Self> {
        let root = std::env::var_os("NETTUNE_VM_KIT")
            .map_or_else(|| PathBuf::from("/var/cache/nettune-vm"), PathBuf::from);
        let mut kits: Vec<Self> = std::fs::read_dir(root.join("kernels"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|dir| {
                dir.join("vmlinuz").is_file()
                    && MODULES
                        .iter()
                        .all(|m| dir.join("modules").join(format!("{m}.ko")).is_file())
            })
            .map(|dir| Self {
                release: dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                suite: std::fs::read_to_string(dir.join("suite"))
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
                dir,
            })
            .collect();
        kits.sort_by_key(|k| release_key(&k.release));
        let tools = which("qemu-system-x86_64") && Path::new("/bin/busybox").is_file();
        if kits.is_empty() || !tools {
            assert!(
                !in_ci(),
                "{test}: no VM kit in {} (or no qemu-system-x86_64 / busybox): .ci/vm-kit prepares it",
                root.display()
            );
            println!(
                "SKIP {test}: no VM kit in {} (run .ci/vm-kit)",
                root.display()
            );
            return Vec::new();
        }
        kits
    }
}

/// `6.12.95+deb12-amd64` as (6, 12, 95), for ordering.
fn release_key(release: &str) -> Vec<u32> {
    release
        .split(|c: char| !c.is_ascii_digit())
        .take(3)
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// How qemu ran the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualisation.
    Kvm,
    /// qemu's software emulation.
    Tcg,
}

impl fmt::Display for Accel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Kvm => "kvm",
            Self::Tcg => "tcg",
        })
    }
}

/// What one boot printed.
#[derive(Debug)]
pub struct Boot {
    /// Everything on the serial console (kernel messages, init, the program's output).
    pub console: String,
    /// The accelerator the guest ran under.
    pub accel: Accel,
    /// From qemu's start to its end.
    pub elapsed: Duration,
    /// The program's exit status, when the guest got to print it.
    pub exit: Option<i32>,
}

/// One VM boot: a program and the environment it runs with.
#[derive(Debug)]
pub struct Vm<'a> {
    kit: &'a Kit,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    timeout: Duration,
}

impl<'a> Vm<'a> {
    /// A VM that runs `program` (copied into the guest as `/guest`, debug info stripped).
    pub fn new(kit: &'a Kit, program: impl Into<PathBuf>) -> Self {
        Self {
            kit,
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            timeout: Duration::from_secs(600),
        }
    }

    /// An argument for the program.
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    /// An environment variable for the program.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// How long the whole boot may take before qemu is killed (default 10 minutes).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Builds the initramfs and boots it; the tap for `eth0` lives in `ns`.
    ///
    /// # Panics
    ///
    /// When the initramfs cannot be built, qemu cannot start, or the guest runs past the
    /// timeout (its console so far is in the message).
    pub fn boot(&self, ns: &TestNs) -> Boot {
        let work = tempdir();
        let initrd = self.initramfs(&work);
        let kvm = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .is_ok();
        if kvm {
            // A nested KVM may open and then fail in many ways (an internal error, an
            // MSR it cannot set and a qemu abort, ...): a boot under KVM that did not
            // reach the guest's exit status is redone under TCG, which then decides.
            match self.qemu(ns, &initrd, Accel::Kvm) {
                Ok(boot) if boot.exit.is_some() => {
                    let _ = std::fs::remove_dir_all(&work);
                    return boot;
                }
                Ok(boot) => {
                    let lines: Vec<&str> = boot.console.lines().collect();
                    println!(
                        "vm: under KVM the guest ended without its exit status (last lines: {:?}); using TCG",
                        &lines[lines.len().saturating_sub(3)..]
                    );
                }
                Err(why) => println!("vm: KVM cannot run the guest here ({why}); using TCG"),
            }
        }
        let boot = self
            .qemu(ns, &initrd, Accel::Tcg)
            .unwrap_or_else(|why| panic!("vm: {why}"));
        let _ = std::fs::remove_dir_all(&work);
        boot
    }

    fn initramfs(&self, work: &Path) -> PathBuf {
        let root = work.join("root");
        for d in ["bin", "proc", "sys", "dev", "tmp", "run", "lib/modules"] {
            mkdir(&root.join(d));
        }
        copy(Path::new("/bin/busybox"), &root.join("bin/busybox"));
        let ethtool = find_program("ethtool");
        copy(&ethtool, &root.join("bin/ethtool"));
        let guest = root.join("guest");
        let stripped = Command::new("objcopy")
            .arg("--strip-debug")
            .arg(&self.program)
            .arg(&guest)
            .status()
            .is_ok_and(|s| s.success());
        if !stripped {
            copy(&self.program, &guest);
        }
        for lib in shared_libraries(&[&ethtool, &self.program]) {
            let to = root.join(lib.strip_prefix("/").unwrap_or(&lib));
            mkdir(to.parent().unwrap_or(&root));
            copy(&lib, &to);
        }
        for m in MODULES {
            let name = format!("{m}.ko");
            copy(
                &self.kit.dir.join("modules").join(&name),
                &root.join("lib/modules").join(&name),
            );
        }
        let mut exports = format!("export {GUEST_ENV}=1 PATH=/bin RUST_BACKTRACE=0");
        for (k, v) in &self.env {
            exports.push_str(&format!(" {k}={}", shell_quote(v)));
        }
        let args: Vec<String> = self.args.iter().map(|a| shell_quote(a)).collect();
        let init = format!(
            "#!/bin/busybox sh\n\
             /bin/busybox --install -s /bin\n\
             mount -t proc proc /proc\n\
             mount -t sysfs sys /sys\n\
             mount -t devtmpfs dev /dev\n\
             mount -t tmpfs tmp /tmp\n\
             for m in {modules}; do insmod /lib/modules/$m.ko || echo \"insmod $m failed\"; done\n\
             ip link set lo up\n\
             n=0; while [ ! -e /sys/class/net/eth1 ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done\n\
             {exports}\n\
             cd /tmp\n\
             /guest {args}\n\
             echo \"{EXIT_MARK}$?\"\n\
             poweroff -f\n",
            modules = MODULES.join(" "),
            args = args.join(" "),
        );
        std::fs::write(root.join("init"), init).expect("writing init");
        set_mode(&root.join("init"), 0o755);
        let initrd = work.join("initrd.cpio");
        let out = std::fs::File::create(&initrd).expect("creating the initramfs");
        let status = Command::new("sh")
            .arg("-c")
            .arg("find . | /bin/busybox cpio -o -H newc 2>/dev/null")
            .current_dir(&root)
            .stdout(out)
            .status()
            .expect("busybox cpio");
        assert!(status.success(), "building the initramfs failed");
        let _ = std::fs::remove_dir_all(&root);
        initrd
    }

    fn qemu(&self, ns: &TestNs, initrd: &Path, accel: Accel) -> Result<Boot, String> {
        let mut cmd = ns.command("qemu-system-x86_64");
        match accel {
            Accel::Kvm => cmd.args(["-accel", "kvm", "-cpu", "host"]),
            Accel::Tcg => cmd.args(["-accel", "tcg"]),
        };
        cmd.args([
            "-m", "1024", "-smp", "2", "-display", "none", "-monitor", "none",
        ])
        .args(["-serial", "stdio", "-no-reboot", "-nodefaults"])
        .arg("-kernel")
        .arg(self.kit.dir.join("vmlinuz"))
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", "console=ttyS0 panic=-1 quiet"])
        .args([
            "-netdev",
            "tap,id=t0,ifname=ntvm0,script=no,downscript=no,queues=4,vhost=off",
            "-device",
            "virtio-net-pci,netdev=t0,mq=on,rss=on,vectors=10",
            "-netdev",
            "user,id=u0,restrict=on",
            "-device",
            "igb,netdev=u0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let start = Instant::now();
        let mut child = Killed(cmd.spawn().map_err(|e| format!("starting qemu: {e}"))?);
        let (tx, rx) = mpsc::channel::<String>();
        let mut readers = Vec::new();
        if let Some(out) = child.0.stdout.take() {
            let tx = tx.clone();
            readers.push(std::thread::spawn(move || forward(out, &tx)));
        }
        if let Some(err) = child.0.stderr.take() {
            let tx = tx.clone();
            readers.push(std::thread::spawn(move || forward(err, &tx)));
        }
        drop(tx);
        let mut console = String::new();
        loop {
            let left = self.timeout.saturating_sub(start.elapsed());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let kvm_failed = accel == Accel::Kvm
                        && (line.contains("KVM internal error")
                            || line.contains("failed to initialize kvm")
                            || line.contains("failed to set MSR"));
                    console.push_str(&line);
                    console.push('\n');
                    if kvm_failed {
                        return Err(line);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!(
                        "vm: the guest ran past {:?} under {accel}; console:\n{console}",
                        self.timeout
                    )
                }
            }
        }
        let _ = child.0.wait();
        for r in readers {
            let _ = r.join();
        }
        let exit = console
            .lines()
            .find_map(|l| l.trim().strip_prefix(EXIT_MARK)?.trim().parse().ok());
        Ok(Boot {
            console,
            accel,
            elapsed: start.elapsed(),
            exit,
        })
    }
}

fn forward(from: impl std::io::Read, to: &mpsc::Sender<String>) {
    for line in BufReader::new(from).lines() {
        let Ok(line) = line else { break };
        if to.send(line.trim_end_matches('\r').to_owned()).is_err() {
            break;
        }
    }
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

fn find_program(program: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
                .map(|d| d.join(program))
                .find(|f| f.is_file())
        })
        .unwrap_or_else(|| panic!("vm: {program} is not installed"))
}

/// Every shared library `ldd` names for the binaries (the loader included).
fn shared_libraries(binaries: &[&Path]) -> Vec<PathBuf> {
    let mut libs: Vec<PathBuf> = Vec::new();
    for bin in binaries {
        let out = Command::new("ldd").arg(bin).output().expect("ldd");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let path = line
                .rsplit("=>")
                .next()
                .and_then(|s| s.split_whitespace().next())
                .filter(|s| s.starts_with('/'));
            if let Some(p) = path {
                let p = PathBuf::from(p);
                if !libs.contains(&p) {
                    libs.push(p);
                }
            }
        }
    }
    libs
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ntk-vm-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    mkdir(&dir);
    dir
}

fn mkdir(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copying {} to {}: {e}", from.display(), to.display()));
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}
