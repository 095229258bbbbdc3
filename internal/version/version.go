// Package version holds podctl's version, for the command line to print and
// for the files that record which podctl wrote them (the layout files of
// pods and of the image store).
package version

// Podctl is podctl's version, set at build time with
// -ldflags "-X podctl/internal/version.Podctl=0.9.0".
var Podctl = "0.1.0-dev"
