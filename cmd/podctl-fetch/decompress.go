package main

import (
	"bufio"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"podctl/store"
)

// zstd-decompress
// xz-decompress
//
// decompress a zstd or xz stream from stdin to stdout, for podctl, which
// renders zstd layers and imports xz archives without linking either
// decoder (store.SetZstdReader, store.SetXzReader): each would cost
// every podctl process its initialisation. podctl bounds what it reads
// of the output.
func init() {
	verbs["zstd-decompress"] = decompressVerb(zstdReader)
	verbs["xz-decompress"] = decompressVerb(xzReader)
}

// decompressVerb is the verb that copies what dec makes of stdin to
// stdout.
func decompressVerb(dec store.Decompressor) func([]string) int {
	return func([]string) int {
		rc, err := dec(bufio.NewReaderSize(os.Stdin, 1<<20))
		if err != nil {
			return fail(err)
		}
		defer rc.Close()
		w := bufio.NewWriterSize(os.Stdout, 1<<20)
		if _, err := io.Copy(w, rc); err != nil {
			return fail(err)
		}
		if err := w.Flush(); err != nil {
			return fail(err)
		}
		return 0
	}
}

// zstdReader is the store's zstd decoder in this process: one goroutine,
// and a bounded window, so a hostile frame cannot ask for much memory.
func zstdReader(r io.Reader) (io.ReadCloser, error) {
	d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30), zstd.WithDecoderMaxWindow(1<<27))
	if err != nil {
		return nil, err
	}
	return d.IOReadCloser(), nil
}

// xzReader is the store's xz decoder in this process, with its default
// dictionary bound.
func xzReader(r io.Reader) (io.ReadCloser, error) {
	xr, err := xz.NewReader(r)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(xr), nil
}

var (
	_ store.Decompressor = zstdReader
	_ store.Decompressor = xzReader
)
