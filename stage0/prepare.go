package stage0

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
	"github.com/moby/sys/capability"
	"golang.org/x/sys/unix"

	"podctl/internal/errdefs"
	"podctl/internal/fetchhelper"
	"podctl/internal/fsutil"
	"podctl/internal/progress"
	"podctl/internal/rootless"
	"podctl/internal/trace"
	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/flavors"
	"podctl/stage1/seccomp/custom"
	"podctl/store"
)

// AppOptions are the per-app choices of prepare and run. Their values are
// typed, as the Parse functions of options.go return them.
type AppOptions struct {
	// Image is an image ID, ID prefix, name[:version] or an ACI file path.
	Image string
	// Name is the app's name; by default the last part of the image name.
	Name string
	// Exec replaces the image's command (its first word).
	Exec string
	// Args, when set, replace the arguments of the command.
	Args []string
	// Env adds variables to this app's environment, after the pod's
	// (PrepareOptions.SetEnv); a later one for the same name wins.
	Env []EnvVar
	// EnvSecrets add secret variables to this app's environment, after the
	// pod's (PrepareOptions.SetEnvSecrets); a later one for the same name
	// wins.
	EnvSecrets []Secret
	// User and Group replace the image's: a number, a name in the image's
	// /etc/passwd or /etc/group, or an absolute path whose file's owner or
	// group is taken.
	User, Group string
	// SupplementaryGIDs, if not nil, replace the image's supplementary
	// groups (--supplementary-gids).
	SupplementaryGIDs []int
	// WorkingDir replaces the image's working directory.
	WorkingDir string
	// Mounts put pod volumes into the app.
	Mounts []Mount
	// Memory, in bytes, and CPU, in thousandths of a core, limit the app;
	// 0 keeps the image's limit, if any.
	Memory, CPU int64
	// PidsLimit, if above zero, is the most processes the app may have.
	PidsLimit int
	// OOMScoreAdj, if set, is the app's oom_score_adj (-1000 to 1000).
	OOMScoreAdj *int
	// Rlimits are the app's resource limits; a later one for the same
	// resource wins.
	Rlimits []stage1.Rlimit
	// ReadOnlyRootfs makes the app's root read-only, but for a fresh
	// /tmp and /run, its volumes and the pod's files (--readonly-rootfs).
	ReadOnlyRootfs bool
	// CapsRetain, if set, are the app's capabilities, instead of the
	// default ones; CapsRemove leave the default ones. Either replaces the
	// image's capability isolators.
	CapsRetain, CapsRemove []capability.Cap
	// Seccomp, if set, replaces the default seccomp filter (and the
	// image's seccomp isolators).
	Seccomp *custom.Custom
	// NoNewPrivileges, if set to false, leaves no_new_privs unset.
	NoNewPrivileges *bool
}

// PrepareOptions are the choices of prepare and run.
type PrepareOptions struct {
	Apps []AppOptions
	// SetEnv adds variables to every app's environment (--set-env-file's,
	// then --set-env's: a later one for the same name wins).
	SetEnv []EnvVar
	// InheritEnv, with --inherit-env, are variables (of podctl's own
	// environment, HostEnv) every app gets unless it sets them otherwise.
	InheritEnv []EnvVar
	// SetEnvSecrets give every app the variable Name with File's content
	// (but for one final newline). The manifest keeps only the file's
	// absolute path; stage1 reads the file when the pod starts, so the
	// value is never written into the data directory.
	SetEnvSecrets []Secret
	// Name, if set, is the pod's name, unique among the pods not yet
	// removed, which commands take wherever they take a UUID.
	Name string
	// Labels and Annotations are the user's key-value pairs on the pod.
	Labels, Annotations []KeyValue
	// InsecureImage accepts image files without a verified signature.
	InsecureImage bool
	// ImageLimits bound the images imported and rendered for the pod;
	// zero fields mean the store's defaults.
	ImageLimits store.Limits
	// Flavor is the stage1 flavor; empty means the default.
	Flavor string
	// NoOverlay copies image trees into the pod instead of overlaying them.
	NoOverlay bool
	// UUIDFileSave, if set, is a file the pod's UUID is written to as soon
	// as the pod exists.
	UUIDFileSave string
	// Created, if set, is called once the pod exists, with its stage1
	// folder, before anything else is laid out (a detached run reports
	// the pod to its caller).
	Created func(*lifecycle.Pod) error `json:"-"`
	// Volumes are the pod's volumes.
	Volumes []types.Volume
	// Network is the pod's network.
	Network NetworkOptions
	// Devices are host devices every app may open (--device).
	Devices []DeviceOption
	// PrivateUsers maps the pod's ids to a range of host ids of its own.
	PrivateUsers PrivateUsersOption
	// PodManifest, if set, is the pod as the user wrote it
	// (--pod-manifest, ReadPodManifest), which Apps must then leave empty.
	PodManifest *schema.PodManifest
	// Source, if set, is the pod file the pod is made from (podctl apply).
	Source *Source
	// Mutable makes a pod that stays up until it is stopped, with no app
	// or some, whose apps podctl app adds, starts, stops and removes.
	Mutable bool
}

// flavorName is the stage1 flavor opts ask for, or the default.
func flavorName(opts *PrepareOptions) string {
	if opts.Flavor != "" {
		return opts.Flavor
	}
	if rootless.Active() {
		return RootlessFlavor
	}
	return flavors.Default()
}

// Prepare creates a pod from opts and lays it out for stage1. It returns
// the pod still locked by this process in the preparing state: the caller
// either makes it prepared (ToPrepared) or runs it (Run). Bad input is
// refused before the pod exists; a failure after that removes the pod.
func Prepare(c Config, opts *PrepareOptions) (*lifecycle.Pod, error) {
	name := flavorName(opts)
	if err := checkRootless(opts, name); err != nil {
		return nil, err
	}
	if _, err := availableFlavor(name); err != nil {
		return nil, err
	}
	return prepare(c, opts, name)
}

// availableFlavor returns the flavor called name if it can run here.
func availableFlavor(name string) (stage1.Flavor, error) {
	f, err := flavorNamed(name)
	if err != nil {
		return nil, err
	}
	if err := f.Available(); err != nil {
		return nil, err
	}
	return f, nil
}

// flavorNamed returns the flavor called name, whether it can run here or
// not.
func flavorNamed(name string) (stage1.Flavor, error) {
	f, err := flavors.Get(name)
	if err != nil {
		return nil, errdefs.New(ErrUsage, "%v", err)
	}
	return f, nil
}

// prepare is Prepare for a flavor known to be available. It builds the
// pod's plan, which checks everything that can be checked, and only then
// makes the pod and writes the plan into it.
func prepare(c Config, opts *PrepareOptions, flavor string) (*lifecycle.Pod, error) {
	trace.Mark("prepare")
	pl, err := checkOptions(opts)
	if err != nil {
		return nil, err
	}
	pl.flavor = flavor
	if err := checkNetwork(&opts.Network, flavor); err != nil {
		return nil, err
	}
	if err := checkPrivateUsers(opts.PrivateUsers, flavor, c.DataDir, opts.NoOverlay); err != nil {
		return nil, err
	}
	if opts.Name != "" {
		// Early, to fail before importing anything; claimName decides.
		if err := checkNameFree(c.DataDir, opts.Name); err != nil {
			return nil, err
		}
	}
	if err := c.Init(); err != nil {
		return nil, err
	}
	st, err := c.OpenStore()
	if err != nil {
		return nil, err
	}
	defer st.Close()
	st.SetLimits(opts.ImageLimits)
	resolve, build := pl.resolveApps, pl.buildManifest
	if opts.PodManifest != nil {
		resolve = func(Config, *store.Store) error { return pl.resolveManifestApps(st) }
		build = pl.useManifest
	}
	if err := resolve(c, st); err != nil {
		return nil, err
	}
	// Image gc must not take a tree away between here and the pod naming
	// it in its manifest.
	unlock, err := st.LockShared()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := pl.findTrees(st); err != nil {
		return nil, err
	}
	if opts.PodManifest == nil {
		// A pod manifest says its apps' mounts itself.
		if err := pl.joinMountPoints(); err != nil {
			return nil, err
		}
	}
	if err := pl.checkHandlers(); err != nil {
		return nil, err
	}
	pl.warnUnapplied(c)
	if err := build(); err != nil {
		return nil, err
	}
	trace.Mark("images resolved")
	return create(c, pl)
}

// create makes the pod of a checked plan and writes the plan into it.
func create(c Config, pl *plan) (*lifecycle.Pod, error) {
	p, err := lifecycle.NewPod(c.DataDir)
	if err != nil {
		return nil, c.dataDirError(err)
	}
	if pl.opts.Name != "" {
		if err := claimName(c.DataDir, pl.opts.Name, p.UUID); err != nil {
			discard(p)
			return nil, err
		}
	}
	if err := pl.giveUsers(c.DataDir, p.UUID); err != nil {
		discard(p)
		_ = releaseName(c.DataDir, pl.opts.Name, p.UUID)
		return nil, err
	}
	if err := layOut(p, pl); err != nil {
		discard(p)
		// In case the manifest that names the pod was not written. A
		// failure leaves a stale entry, which is free all the same.
		_ = releaseName(c.DataDir, pl.opts.Name, p.UUID)
		return nil, fmt.Errorf("preparing pod %s: %w", p.UUID, err)
	}
	return p, nil
}

// removeEnv returns env without the variable name.
func removeEnv(env types.Environment, name string) types.Environment {
	out := env[:0:0]
	for _, ev := range env {
		if ev.Name != name {
			out = append(out, ev)
		}
	}
	return out
}

// resolveImage finds an image in the store, importing it first if ref is
// an image file or an OCI or Docker image reference (IsLayeredRef).
func resolveImage(c Config, st *store.Store, ref string, insecure bool) (string, error) {
	if IsLayeredRef(ref) {
		img, err := FetchLayered(c, st, ref, insecure)
		return img.ID, err
	}
	if IsRemoteRef(ref) {
		img, err := FetchRemote(c, st, ref, insecure)
		return img.ID, err
	}
	if fi, err := os.Stat(ref); err == nil && fi.Mode().IsRegular() {
		img, err := FetchFile(c, st, ref, insecure, nil)
		if err != nil {
			return "", err
		}
		return img.ID, nil
	} else if err == nil && fi.IsDir() {
		return "", errdefs.New(ErrUsage, "image %s is a directory, not an ACI file: make an image of it with podctl image import %s --name NAME", ref, ref)
	}
	if strings.HasSuffix(ref, ".aci") || strings.Contains(ref, "./") {
		return "", errdefs.New(ErrUsage, "image file %s does not exist", ref)
	}
	id, err := st.Resolve(ref)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", errdefs.New(ErrUsage, "no image %q in the store: fetch it first with podctl fetch, or give a path to an ACI file", ref)
		}
		return "", err
	}
	return id, nil
}

// FetchFile imports an ACI file into the store. Unless insecure, the file
// must have a detached OpenPGP signature beside it (FILE.asc) by a key the
// keystore trusts for the image's name (verifiedCopy); nothing is imported
// otherwise. The import reports its progress to rep (nil for none).
func FetchFile(c Config, st *store.Store, path string, insecure bool, rep *progress.Reporter) (store.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return store.Image{}, err
	}
	defer f.Close()
	src, signedName := f, ""
	if !insecure {
		cp, name, err := verifiedCopy(c, f, path)
		if err != nil {
			return store.Image{}, err
		}
		defer cp.Close()
		src, signedName = cp, name
	}
	var size int64
	if fi, err := src.Stat(); err == nil {
		size = fi.Size()
	}
	it := rep.Start(filepath.Base(path), size)
	img, notes, err := st.ImportNoting(it.Reader(src))
	it.Done(err)
	if err != nil {
		return store.Image{}, fmt.Errorf("%s: %w", path, err)
	}
	if !insecure && img.Name != signedName {
		// Not expected: both read the same bytes with the same manifest
		// parser.
		return store.Image{}, fmt.Errorf("image %s: stored as %s, but its signature was checked for %s", path, img.Name, signedName)
	}
	if n := len(notes.Devices); n > 0 {
		// Told, not refused: an image made from a whole system has them.
		shown := notes.Devices[:min(n, 3)]
		more := ""
		if n > len(shown) {
			more = fmt.Sprintf(" and %d more", n-len(shown))
		}
		c.warn(fmt.Errorf("warning: image %s holds %d device node(s) (%s%s), which are left out: pods get their /dev from stage1",
			img.Name, n, strings.Join(shown, ", "), more))
	}
	return img, nil
}

// verifiedCopy checks the signature of the image file at path, opened as
// f: it copies the file to a private, unnamed file in the data directory
// and has podctl-fetch (verify-aci, which links OpenPGP) check path.asc
// over the copy against the keystore. It returns the copy, rewound, to
// import, and the image name the signature was trusted for: the bytes
// checked are the bytes imported, whatever happens to the file meanwhile.
func verifiedCopy(c Config, f *os.File, path string) (*os.File, string, error) {
	sig := path + ".asc"
	if _, err := os.Stat(sig); errors.Is(err, fs.ErrNotExist) {
		return nil, "", errdefs.New(ErrUsage, "image %s has no signature (%s): sign it with gpg --armor --detach-sign, or pass --insecure-options=image to use it unsigned", path, sig)
	}
	cp, err := privateFile(c.DataDir)
	if err != nil {
		return nil, "", fmt.Errorf("copying image %s to verify it: %w", path, err)
	}
	ok := false
	defer func() {
		if !ok {
			cp.Close()
		}
	}()
	if _, err := io.Copy(cp, f); err != nil {
		return nil, "", fmt.Errorf("copying image %s to verify it: %w", path, err)
	}
	if _, err := cp.Seek(0, io.SeekStart); err != nil {
		return nil, "", err
	}
	var out, stderr bytes.Buffer
	err = fetchhelper.Run(c.DataDir, cp, &out, &stderr, "verify-aci", "--signature", sig, "-")
	var ee *fetchhelper.ExitError
	if errors.As(err, &ee) {
		msg := strings.TrimPrefix(strings.TrimSpace(stderr.String()), "podctl: ")
		if msg == "" {
			msg = err.Error()
		}
		return nil, "", errdefs.New(ErrUsage, "image %s: %s", path, msg)
	}
	if err != nil {
		return nil, "", fmt.Errorf("verifying image %s: %w", path, err)
	}
	// "NAME FINGERPRINT"
	name, signer, found := strings.Cut(strings.TrimSpace(out.String()), " ")
	if !found {
		return nil, "", fmt.Errorf("verifying image %s: %s printed %q", path, fetchhelper.Name, out.String())
	}
	if c.Debug {
		fmt.Fprintf(os.Stderr, "image %s: signed by key %s, which is trusted for %s\n", path, signer, name)
	}
	if _, err := cp.Seek(0, io.SeekStart); err != nil {
		return nil, "", err
	}
	ok = true
	return cp, name, nil
}

// privateFile makes a file no other process can open by name: an
// O_TMPFILE file in dir, which a crash leaves nothing of, or a named one
// removed at once.
func privateFile(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err == nil {
		return os.NewFile(uintptr(fd), filepath.Join(dir, "(verify)")), nil
	}
	f, err := os.CreateTemp(dir, ".verify-*")
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func appName(given string, m *schema.ImageManifest) (types.ACName, error) {
	if given != "" {
		n, err := types.NewACName(given)
		if err != nil {
			return "", errdefs.New(ErrUsage, "app name %q is not valid (lower-case letters, digits and dashes)", given)
		}
		return *n, nil
	}
	base := m.Name.String()
	if i := strings.LastIndexByte(base, '/'); i >= 0 {
		base = base[i+1:]
	}
	s, err := types.SanitizeACName(base)
	if err != nil {
		return "", errdefs.New(ErrUsage, "cannot make an app name of image %s: give one with --name", m.Name)
	}
	return types.ACName(s), nil
}

// layOut writes a pod's plan into its directory: its app roots and,
// last, its manifest.
func layOut(p *lifecycle.Pod, pl *plan) error {
	if pl.opts.UUIDFileSave != "" {
		// Written before preparation, so a supervisor can find (and remove)
		// the pod even if this process dies half way.
		// Atomic, so a reader never sees half a UUID; not fsynced: after a
		// power cut the pod it names is not running anyway.
		if err := fsutil.WriteFile(pl.opts.UUIDFileSave, []byte(p.UUID), 0o644, false); err != nil {
			return fmt.Errorf("saving UUID: %w", err)
		}
	}
	dir := p.Path()
	if err := os.Mkdir(filepath.Join(dir, lifecycle.DirStage1), 0o700); err != nil {
		return err
	}
	if pl.opts.Created != nil {
		if err := pl.opts.Created(p); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, lifecycle.FileFlavor), []byte(pl.flavor+"\n"), 0o600); err != nil {
		return err
	}
	chown := pl.users != nil && pl.users.Ownership == stage1.OwnershipChown
	overlay := !chown && pl.overlay(dir)
	for _, a := range pl.apps {
		appDir := filepath.Join(dir, lifecycle.AppDir(a.name.String()))
		if err := layOutApp(appDir, a.tree, overlay); err != nil {
			return err
		}
		if err := giveTree(appDir, pl.users, overlay); err != nil {
			return err
		}
	}
	// Durability comes from ToPrepared's syncfs; a pod run at once needs none.
	return p.WriteFile(lifecycle.FileManifest, pl.manifest, false)
}

// layOutApp makes an app's folder: an overlay of its image tree, or a copy.
func layOutApp(appDir, tree string, overlay bool) error {
	if err := os.MkdirAll(appDir, 0o700); err != nil {
		return err
	}
	if !overlay {
		return copyTree(tree, filepath.Join(appDir, lifecycle.AppRootfs))
	}
	for _, d := range []string{lifecycle.AppRootfs, lifecycle.AppUpper, lifecycle.AppWork} {
		if err := os.Mkdir(filepath.Join(appDir, d), 0o755); err != nil {
			return err
		}
	}
	return os.Symlink(tree, filepath.Join(appDir, lifecycle.AppLower))
}

// overlay tells whether the pod's app roots are overlays of the image
// trees, in dir, or copies.
func (pl *plan) overlay(dir string) bool {
	return !pl.opts.NoOverlay && overlaySupported(dir)
}

// overlaySupported reports whether app roots in dir can be overlayfs
// mounts: the kernel must know overlayfs, and dir must not itself be on a
// file system that cannot hold an upper layer.
func overlaySupported(dir string) bool {
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil || !strings.Contains(string(b), "\toverlay\n") {
		return false
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(dir, &sfs); err != nil {
		return false
	}
	switch sfs.Type {
	case unix.OVERLAYFS_SUPER_MAGIC, 0x61756673 /* aufs */, 0x2fc12fc1 /* zfs */ :
		return false
	}
	return true
}

// copyTree makes a private copy of an image tree for a pod that cannot use
// overlayfs. cp keeps owners, modes, times, links and xattrs, and reflinks
// where the file system can.
func copyTree(src, dst string) error {
	out, err := exec.Command("cp", "-a", "--reflink=auto", src, dst).CombinedOutput()
	if err != nil {
		return fmt.Errorf("copying image tree: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// discard removes a pod whose preparation failed, so a refused request
// leaves nothing behind, and frees its name.
func discard(p *lifecycle.Pod) {
	name := readPodName(p)
	if err := p.ToGarbage(); err == nil {
		if p.Remove() == nil {
			// Best effort, as the removal: a stale entry is free.
			_ = releaseName(p.DataDir(), name, p.UUID)
		}
	}
	p.Close()
}
