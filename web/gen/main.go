// Command gen builds the web client's WebAssembly module into web/static (go generate ./web).
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/backchannel/backchannel/web/internal/wasmbuild"
)

func main() {
	// go generate runs in the package's directory, web/.
	root, err := filepath.Abs("..")
	if err != nil {
		fail(err)
	}
	files, err := wasmbuild.Build(context.Background(), root)
	if err != nil {
		fail(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(root, "web", "static", name), b, 0o644); err != nil {
			fail(err)
		}
		fmt.Printf("web/static/%s: %d bytes\n", name, len(b))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gen:", err)
	os.Exit(1)
}
