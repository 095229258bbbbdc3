package main

import (
	"bufio"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"

	"podctl/store"
)

// zstd-decompress
//
// decompresses a zstd stream from stdin to stdout, for podctl, which
// renders zstd layers without linking a zstd decoder (store.SetZstdReader).
// podctl bounds what it reads of the output.
func init() {
	verbs["zstd-decompress"] = func(args []string) int {
		zr, err := zstdReader(bufio.NewReaderSize(os.Stdin, 1<<20))
		if err != nil {
			return fail(err)
		}
		defer zr.Close()
		w := bufio.NewWriterSize(os.Stdout, 1<<20)
		if _, err := io.Copy(w, zr); err != nil {
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

var _ store.ZstdReader = zstdReader
