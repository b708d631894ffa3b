// `go mod tidy` adds the requirements: kre-runners' kre-go at the version of the image in
// krt.yml (2.1.4), and google.golang.org/protobuf.
module shuttlefleet/audit

go 1.18
