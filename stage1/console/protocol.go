package console

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Every connection to a console starts with one header line from the
// client, then is the terminal itself:
//
//	attach ROWS COLS\n   watch and type; the terminal takes the size
//	                     ROWS×COLS first, unless both are 0
//	resize ROWS COLS\n   only give the terminal that size; the server
//	                     closes the connection
//
// ROWS and COLS are decimal, 0 to 65535.
const (
	verbAttach = "attach"
	verbResize = "resize"
	// maxHeader bounds the header line, newline included.
	maxHeader = 32
)

// header is a connection's first line.
type header struct {
	verb       string
	rows, cols uint16
}

func (h header) String() string { return fmt.Sprintf("%s %d %d\n", h.verb, h.rows, h.cols) }

// parseHeader parses a header line, without its newline.
func parseHeader(line string) (header, error) {
	f := strings.Split(line, " ")
	if len(f) != 3 || (f[0] != verbAttach && f[0] != verbResize) {
		return header{}, fmt.Errorf("console: bad header %q", line)
	}
	var dims [2]uint16
	for i, s := range f[1:] {
		// Digits only: ParseUint would take no sign, but "0x" or "_" must
		// not pass either.
		if s == "" || strings.Trim(s, "0123456789") != "" {
			return header{}, fmt.Errorf("console: bad size in header %q", line)
		}
		n, err := strconv.ParseUint(s, 10, 16)
		if err != nil {
			return header{}, fmt.Errorf("console: bad size in header %q", line)
		}
		dims[i] = uint16(n)
	}
	return header{verb: f[0], rows: dims[0], cols: dims[1]}, nil
}

// readHeader reads a header line a byte at a time, so that nothing typed
// after it is taken with it.
func readHeader(r io.Reader) (header, error) {
	var line []byte
	b := make([]byte, 1)
	for len(line) < maxHeader {
		if _, err := io.ReadFull(r, b); err != nil {
			return header{}, fmt.Errorf("console: reading the header: %w", err)
		}
		if b[0] == '\n' {
			return parseHeader(string(line))
		}
		line = append(line, b[0])
	}
	return header{}, fmt.Errorf("console: header longer than %d bytes", maxHeader)
}

// sizeOf is the window size of the terminal fd, or 0, 0 if it is none.
func sizeOf(fd int) (rows, cols uint16) {
	ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
	if err != nil {
		return 0, 0
	}
	return ws.Row, ws.Col
}

// resize gives the terminal whose master is fd the size of h, unless it
// is 0×0; the kernel tells the app with SIGWINCH.
func resize(fd int, h header) error {
	if h.rows == 0 && h.cols == 0 {
		return nil
	}
	return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: h.rows, Col: h.cols})
}
