package lifecycle

import "path/filepath"

// The files and folders of a pod directory, and podctl's annotations of a
// pod manifest. This file is the only place that names them: every other
// package uses these constants, and PodFiles says who writes each one,
// how, and whether an app can reach it. Documentation/pod-lifecycle.md
// describes them for people.
//
// An app of the native and systemd flavors sees its own root (AppRootfs,
// through the overlay's AppUpper) and the volumes it mounts, and nothing
// else of the pod directory: what it can write there is never read by
// podctl as a fact to act on. A fly app runs chrooted in the host's
// namespaces: a root fly app can reach the whole host, pods included, as
// fly is for trusted host tools.
const (
	// FileCreated is an empty file whose mtime is the pod's creation time.
	FileCreated = "created"
	// FileLayout records the layout version of the pod directory.
	FileLayout = "layout"
	// FileHistory holds the pod's state changes, a line each.
	FileHistory = "history"
	// FileManifest is the appc pod manifest.
	FileManifest = "pod"
	// FilePid holds the pid of the pod's stage1 process; its mtime is the
	// pod's start time.
	FilePid = "pid"
	// FileReady exists once every app of the pod is ready.
	FileReady = "ready"
	// FileTerminating holds the time a podctl stop kills the pod.
	FileTerminating = "terminating"
	// FileResult is how the pod ended.
	FileResult = "result"
	// FileSummary caches what list reads of an exited pod (Summary), or
	// what a running pod's manifest says (RunningSummary).
	FileSummary = "summary"
	// DirVolumes holds the pod's empty volumes, one folder each.
	DirVolumes = "volumes"
	// DirStage1 holds the flavor's own files.
	DirStage1 = "stage1"
	// FileFlavor names the stage1 flavor of the pod.
	FileFlavor = "stage1/flavor"
	// FileCgroup lists the folders of the pod's cgroup.
	FileCgroup = "stage1/cgroup"
	// FileStats holds the pod's usage samples.
	FileStats = "stage1/stats"
	// DirStage1Root is the systemd flavor's stage1 root, which nspawn boots.
	DirStage1Root = "stage1/rootfs"
	// FileConsoleLog keeps what nspawn and the pod's systemd print.
	FileConsoleLog = "stage1/console.log"
	// DirHooks holds what the systemd flavor's exit hooks write beside the
	// apps' folders: with private users, the only other part of the pod
	// they may write.
	DirHooks = "stage1/hooks"
	// FileExitLock serialises the systemd flavor's exit hooks.
	FileExitLock = "stage1/hooks/exit.lock"
	// FileFirstFailure holds the exit code of the first app to fail for
	// good (systemd flavor): the pod's.
	FileFirstFailure = "stage1/hooks/first-failure"
	// FileTask is the run's stage1.Task, for the systemd flavor's hooks.
	FileTask = "stage1/task.json"
	// FileNetworks lists the networks the pod joined (network.Attachment,
	// a JSON array), for status and list to show.
	FileNetworks = "stage1/networks.json"
	// FileHosts and FileResolvConf are the pod's /etc/hosts and
	// /etc/resolv.conf, bound read-only into every app's root.
	FileHosts      = "stage1/hosts"
	FileResolvConf = "stage1/resolv.conf"
	// FileConsole is the unix socket of a detached interactive pod's
	// terminal (podctl attach), served by its stage1.
	FileConsole = "stage1/console.sock"
	// DirApps holds one folder per app (AppDir).
	DirApps = "apps"
	// FileManifestLock is flocked by whoever changes or reads an app of
	// a mutable pod's manifest (LockManifest).
	FileManifestLock = "manifest.lock"
	// FileControl is the unix socket a mutable pod's stage1 takes its
	// app verbs on.
	FileControl = "stage1/control"
)

// The files and folders of an app's folder, apps/<name>/ (AppFile).
const (
	// AppRootfs is where the app's root filesystem is (or is mounted).
	AppRootfs = "rootfs"
	// AppLower, when present, is a symlink to the shared image tree that
	// stage1 mounts as the lower layer of an overlay on AppRootfs, with
	// AppUpper and AppWork as the pod's own layer. When absent, AppRootfs
	// is a private copy of the tree and nothing needs mounting.
	AppLower = "lower"
	AppUpper = "upper"
	AppWork  = "work"
	// AppLog is what the app wrote to its stdout and stderr.
	AppLog = "log"
	// AppPid holds the pid of the app's main process while it runs.
	AppPid = "pid"
	// AppNotify is the app's notify socket (--ready=notify).
	AppNotify = "notify"
	// AppExit is the app's exit status, of its last run (an AppStatus).
	AppExit = "exit"
	// AppRestarts counts the app's restarts.
	AppRestarts = "restarts"
	// AppStarted, written by flavors that record no pid (systemd), is
	// JSON whose started_at says when the app last started.
	AppStarted = "started"
	// AppSpecJSON is the app as the systemd flavor's exec helper reads it.
	AppSpecJSON = "spec.json"
	// AppStartError says why the app could not start (systemd flavor).
	AppStartError = "start-error"
	// AppExecLock is held by the app's exec helper until the app's
	// command replaces it (systemd flavor).
	AppExecLock = "exec.lock"
	// AppRestarting exists while a restart of the app is scheduled
	// (systemd flavor).
	AppRestarting = "restarting"
	// AppStopping exists while podctl app stop stops the app (systemd
	// flavor): its exit hook does not restart it.
	AppStopping = "stopping"
	// AppStdinFIFO, AppStdoutFIFO and AppStderrFIFO carry the app's
	// standard streams (systemd flavor).
	AppStdinFIFO  = "stdin.fifo"
	AppStdoutFIFO = "stdout.fifo"
	AppStderrFIFO = "stderr.fifo"
)

// AnnotationPrefix starts the names of podctl's own annotations, which
// only podctl writes (a pod manifest given with --pod-manifest may carry
// none).
const AnnotationPrefix = "podctl.io/"

// podctl's annotations of a pod manifest.
const (
	// AnnotationName, on the pod manifest, is the pod's name (--name).
	AnnotationName = "podctl.io/name"
	// AnnotationSecretEnv, on a RuntimeApp, maps the names of the app's
	// secret environment variables to the absolute paths of the files
	// holding their values, as a JSON object: only the paths are stored.
	AnnotationSecretEnv = "podctl.io/secret-env"
	// AnnotationPidsLimit, on a RuntimeApp, is the most processes the app
	// may have at once.
	AnnotationPidsLimit = "podctl.io/pids-limit"
	// AnnotationRlimits, on a RuntimeApp, is the app's resource limits,
	// comma-separated NAME=SOFT:HARD.
	AnnotationRlimits = "podctl.io/rlimits"
	// AnnotationOOMScoreAdj, on a RuntimeApp, is the app's oom_score_adj.
	AnnotationOOMScoreAdj = "podctl.io/oom-score-adj"
	// AnnotationSeccomp, on a RuntimeApp, is "unconfined" when the app
	// runs without a seccomp filter (--seccomp=unconfined), which appc
	// has no isolator for.
	AnnotationSeccomp = "podctl.io/seccomp"
	// AnnotationNetwork, on the pod manifest, is the pod's network as
	// stage0 asks for it (stage1.NetworkSettings, JSON); the ports it
	// forwards are the manifest's own ports.
	AnnotationNetwork = "podctl.io/network"
	// AnnotationReadOnlyRootfs, on a RuntimeApp, is "true" for an app
	// whose root is read-only (--readonly-rootfs); appc has no field for
	// it.
	AnnotationReadOnlyRootfs = "podctl.io/readonly-rootfs"
	// AnnotationDevices, on the pod manifest, is the host devices given
	// to every app (--device), a JSON array of stage1.Device.
	AnnotationDevices = "podctl.io/devices"
	// AnnotationPrivateUsers, on the pod manifest, is the host range the
	// pod's user namespace maps its ids to (stage1.PrivateUsers, JSON);
	// without it the pod shares the host's users.
	AnnotationPrivateUsers = "podctl.io/private-users"
	// AnnotationSourceFile, on the pod manifest of a pod podctl apply
	// started, is the absolute path of its pod file;
	// AnnotationSourceDigest is the digest of the file's bytes then
	// (podfile.Digest), and AnnotationStopGrace the file's grace period
	// for a stop, a Go duration.
	AnnotationSourceFile   = "podctl.io/source-file"
	AnnotationSourceDigest = "podctl.io/source-digest"
	AnnotationStopGrace    = "podctl.io/stop-grace"
	// AnnotationMutable, on the pod manifest, is "true" for a pod whose
	// apps are added and removed while it runs (--mutable).
	AnnotationMutable = "podctl.io/mutable"
)

// The annotations of a pod file (package podfile) that say what a
// Kubernetes Pod or an appc pod manifest has no field for: the flavor,
// the --net values (comma-separated), the readiness (started, notify) and
// "image" to take image files without a signature. They are read from the
// file and never written into a pod manifest.
const (
	PodFileAnnotationStage1   = "podctl.io/stage1"
	PodFileAnnotationNet      = "podctl.io/net"
	PodFileAnnotationReady    = "podctl.io/ready"
	PodFileAnnotationInsecure = "podctl.io/insecure-options"
)

// AppDir is the folder of an app inside the pod directory.
func AppDir(app string) string { return filepath.Join(DirApps, app) }

// AppFile is the path of one of an app's files (App...) inside the pod
// directory.
func AppFile(app, name string) string { return filepath.Join(DirApps, app, name) }

// AppStatusFile is the path of an app's exit status inside the pod
// directory.
func AppStatusFile(app string) string { return AppFile(app, AppExit) }

// AppRestartsFile is the path of an app's restart count inside the pod
// directory.
func AppRestartsFile(app string) string { return AppFile(app, AppRestarts) }

// Durability is how a pod file is written.
type Durability string

// The ways pod files are written.
const (
	// Durable: temp file, fsync, rename, fsync of the folder (or fsynced
	// when the pod becomes prepared).
	Durable Durability = "durable"
	// Atomic: temp file and rename, not fsynced: it describes processes,
	// and means nothing after a reboot.
	Atomic Durability = "atomic"
	// Appended: lines appended with one write(2) each; a line torn by a
	// crash is skipped by readers.
	Appended Durability = "appended"
	// Made: a folder, symlink, socket or FIFO, or a file written in place.
	Made Durability = "made"
)

// PodFile describes one file (or folder) of a pod directory.
type PodFile struct {
	// Path is relative to the pod directory; "apps/*/" stands for each
	// app's folder.
	Path string
	// Writer is who writes it.
	Writer string
	// Format is what it holds.
	Format string
	// Durability is how it is written.
	Durability Durability
	// AppWritable is set when an app, confined as the native and systemd
	// flavors confine it, can write it: podctl never acts on what it holds.
	AppWritable bool
}

// PodFiles is every file of a pod directory.
var PodFiles = []PodFile{
	{FileCreated, "stage0", "empty; its mtime is the creation time", Durable, false},
	{FileLayout, "stage0", "JSON: layout version and the podctl that wrote it", Durable, false},
	{FileHistory, "whoever changes the pod", "TIME STATE lines", Appended, false},
	{FileManifest, "stage0", "appc pod manifest, JSON", Durable, false},
	{FilePid, "stage1", "decimal pid", Atomic, false},
	{FileReady, "stage1", "empty", Atomic, false},
	{FileTerminating, "podctl stop", "RFC 3339 time", Atomic, false},
	{FileResult, "stage1", "JSON: result, message, exit code", Atomic, false},
	{FileSummary, "list and status, of an exited or a running pod", "a header line, then lines of quoted fields: a cache of what they show, rebuilt from the pod's files", Atomic, false},
	{DirVolumes + "/*/", "stage1", "an empty volume's folder, filled from the image aside (volumes/.NAME-*) and renamed in", Made, true},
	{DirStage1 + "/", "stage0", "folder", Made, false},
	{FileFlavor, "stage0", "flavor name and a newline", Durable, false},
	{FileCgroup, "stage1", "cgroup folders, one a line", Atomic, false},
	{FileStats, "stage1", "JSON lines of usage samples", Appended, false},
	{DirStage1Root + "/", "systemd flavor's boot helper", "the stage1 root nspawn boots", Made, false},
	{FileConsoleLog, "nspawn and the pod's systemd", "text", Appended, false},
	{DirHooks + "/", "stage1 (systemd)", "folder", Made, false},
	{FileExitLock, "systemd flavor's exit hook", "empty, flocked", Made, false},
	{FileFirstFailure, "systemd flavor's exit hook", "decimal exit code", Atomic, false},
	{FileTask, "stage1 (systemd)", "stage1.Task, JSON", Atomic, false},
	{FileNetworks, "stage1", "JSON array of the networks joined", Atomic, false},
	{FileHosts, "stage1", "hosts(5)", Atomic, false},
	{FileResolvConf, "stage1", "resolv.conf(5)", Atomic, false},
	{FileConsole, "stage1 (run --detach --interactive)", "unix socket: a header line, then the app's terminal", Made, false},
	{FileManifestLock, "podctl app", "empty, flocked", Made, false},
	{FileControl, "stage1 (mutable pods)", "unix socket of the app verbs", Made, false},
	{DirApps + "/*/", "stage0", "folder", Made, false},
	{DirApps + "/*/" + AppRootfs + "/", "stage0", "the app's root, or its overlay's mount point", Made, true},
	{DirApps + "/*/" + AppLower, "stage0", "symlink to the image tree", Made, false},
	{DirApps + "/*/" + AppUpper + "/", "stage0", "the overlay's upper layer: the app's writes", Made, true},
	{DirApps + "/*/" + AppWork + "/", "stage0", "the overlay's work folder", Made, false},
	{DirApps + "/*/" + AppLog, "stage1", "CRI log lines", Appended, false},
	{DirApps + "/*/" + AppPid, "stage1 (fly, native)", "decimal pid", Atomic, false},
	{DirApps + "/*/" + AppNotify, "stage1 (fly, native)", "unixgram socket the app sends READY=1 on", Made, true},
	{DirApps + "/*/" + AppExit, "stage1", "JSON exit status", Atomic, false},
	{DirApps + "/*/" + AppRestarts, "stage1", "decimal count", Atomic, false},
	{DirApps + "/*/" + AppStarted, "systemd flavor's exec helper", `JSON {"started_at":T,"pid":N}`, Atomic, false},
	{DirApps + "/*/" + AppSpecJSON, "systemd flavor's boot helper", "the app's spec, JSON, without secret values", Atomic, false},
	{DirApps + "/*/" + AppStartError, "systemd flavor's exec helper and pre-start hook", "text", Atomic, false},
	{DirApps + "/*/" + AppExecLock, "systemd flavor's exec helper", "empty, flocked", Made, false},
	{DirApps + "/*/" + AppRestarting, "systemd flavor's exit hook", "empty", Atomic, false},
	{DirApps + "/*/" + AppStopping, "stage1 (systemd, mutable pods)", "empty", Atomic, false},
	{DirApps + "/*/" + AppStdinFIFO, "stage1 (systemd)", "FIFO", Made, false},
	{DirApps + "/*/" + AppStdoutFIFO, "stage1 (systemd)", "FIFO", Made, false},
	{DirApps + "/*/" + AppStderrFIFO, "stage1 (systemd)", "FIFO", Made, false},
}
