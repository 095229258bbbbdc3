package conformance

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"time"
)

// busyboxPath is the host's static busybox (Debian's busybox-static).
const busyboxPath = "/bin/busybox"

// ImageName is the name of the image WriteImage makes, which the checks'
// apps run.
const ImageName = "example.com/conformance-busybox"

// applets are the commands the image links to busybox.
var applets = []string{"sh", "true", "false", "sleep", "touch", "readlink", "hostname", "echo", "cat", "env", "test", "kill"}

// WriteImage writes an uncompressed ACI named ImageName that holds the
// host's busybox-static, its applets as relative symlinks, /etc/passwd and
// /etc/group; its command is /bin/sh, and it gives every app FROM_IMAGE=yes.
func WriteImage(path string) error {
	bb, err := os.ReadFile(busyboxPath)
	if err != nil {
		return fmt.Errorf("reading busybox-static (apt-get install busybox-static): %w", err)
	}
	manifest := fmt.Sprintf(`{"acKind":"ImageManifest","acVersion":"0.8.11","name":%q,
"labels":[{"name":"os","value":"linux"},{"name":"arch","value":"amd64"},{"name":"version","value":"1.0"}],
"app":{"exec":["/bin/sh"],"user":"0","group":"0","environment":[{"name":"FROM_IMAGE","value":"yes"}]}}`, ImageName)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(1700000000, 0)
	headers := []*tar.Header{
		{Name: "manifest", Mode: 0o644, Size: int64(len(manifest)), Typeflag: tar.TypeReg},
		{Name: "rootfs/", Mode: 0o755, Typeflag: tar.TypeDir},
	}
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "root"} {
		headers = append(headers, &tar.Header{Name: "rootfs/" + d + "/", Mode: 0o755, Typeflag: tar.TypeDir})
	}
	headers = append(headers, &tar.Header{Name: "rootfs/tmp/", Mode: 0o1777, Typeflag: tar.TypeDir})
	contents := map[string][]byte{
		"manifest":           []byte(manifest),
		"rootfs/bin/busybox": bb,
		"rootfs/etc/passwd":  []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n"),
		"rootfs/etc/group":   []byte("root:x:0:\nnogroup:x:65534:\n"),
	}
	headers = append(headers,
		&tar.Header{Name: "rootfs/bin/busybox", Mode: 0o755, Size: int64(len(bb)), Typeflag: tar.TypeReg},
		&tar.Header{Name: "rootfs/etc/passwd", Mode: 0o644, Size: int64(len(contents["rootfs/etc/passwd"])), Typeflag: tar.TypeReg},
		&tar.Header{Name: "rootfs/etc/group", Mode: 0o644, Size: int64(len(contents["rootfs/etc/group"])), Typeflag: tar.TypeReg},
	)
	for _, a := range applets {
		headers = append(headers, &tar.Header{Name: "rootfs/bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox"})
	}
	for _, h := range headers {
		h.ModTime = mtime
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(contents[h.Name]); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
