// Package datadir is the one place that names what podctl keeps in its
// data directory (/var/lib/podctl, or --dir):
//
//	pods/<state>/<uuid>/   the pods, one folder per state (lifecycle)
//	names/<name>           the names index: a symlink to the pod's UUID (stage0)
//	images/                the image store (store)
//	trust/                 the keys trusted to sign images (cmd/podctl-fetch)
//	signatures/            simple-signing signatures of OCI and Docker images,
//	                       NAME@sha256=HEX/signature-N (cmd/podctl-fetch)
//	registries.json        registry mirrors and signature lookasides (cmd/podctl-fetch)
//	cni/cache/             libcni's cache: what each pod joined, to release it (network)
//	cni/networks/<net>/    host-local's address reservations, one file an address (network)
//	cni/ports.lock         held while a pod's host ports are checked and forwarded (network)
//	cni/detach.lock        held while a pod's networks are released (network)
//	netns/<uuid>           a pod's network namespace, bind-mounted (network)
//	users/<uuid>           the host ids a --private-users pod's user namespace maps to (stage0)
//	users.lock             held while a range of host ids is given to a pod (stage0)
//	mds.key                the host's key of the metadata service, from which each pod's HMAC key is derived (internal/mds)
//	events.log, .1, .lock  the event log, its previous generation and its lock (events)
//	apply/<name>.lock      held by podctl apply while it acts on the pod of that name (apply)
//	apply/<name>.log       the output of the stage1 apply last started for that name (apply)
//
// Each package owns what is inside its entry; this one owns the entries.
package datadir

import "path/filepath"

// The entries of the data directory.
const (
	Pods          = "pods"
	Names         = "names"
	Images        = "images"
	Trust         = "trust"
	Signatures    = "signatures"
	Registries    = "registries.json"
	CNI           = "cni"
	NetNS         = "netns"
	EventsLog     = "events.log"
	EventsOldLog  = "events.log.1"
	EventsLock    = "events.lock"
	Users         = "users"
	UsersLockFile = "users.lock"
	MDSKey        = "mds.key"
	ApplyDir      = "apply"
)

// PodsDir is the folder of the pods' state folders.
func PodsDir(dataDir string) string { return filepath.Join(dataDir, Pods) }

// NamesDir is the names index.
func NamesDir(dataDir string) string { return filepath.Join(dataDir, Names) }

// ImagesDir is the image store.
func ImagesDir(dataDir string) string { return filepath.Join(dataDir, Images) }

// TrustDir is the keystore.
func TrustDir(dataDir string) string { return filepath.Join(dataDir, Trust) }

// SignaturesDir is the local lookaside of image signatures.
func SignaturesDir(dataDir string) string { return filepath.Join(dataDir, Signatures) }

// CNIDir holds the pods' network state.
func CNIDir(dataDir string) string { return filepath.Join(dataDir, CNI) }

// NetNSDir holds the pods' network namespaces.
func NetNSDir(dataDir string) string { return filepath.Join(dataDir, NetNS) }

// OfPod is the data directory of a pod directory, DATA/pods/<state>/<uuid>:
// three levels up.
func OfPod(podDir string) string {
	return filepath.Dir(filepath.Dir(filepath.Dir(filepath.Clean(podDir))))
}

// UsersDir holds the private users' reservations, one file a pod.
func UsersDir(dataDir string) string { return filepath.Join(dataDir, Users) }

// UsersLock is held while a pod is given a range of host ids.
func UsersLock(dataDir string) string { return filepath.Join(dataDir, UsersLockFile) }
