// Node "audit" of shuttle-fleet: what is missing in a fleet's paperwork, without pricing it
// (workflow fleet-audit). KRE's Go runner (konstellation/kre-go) starts the binary that
// nodes[].src names, bin/audit; build it from this folder:
//
//	protoc -I../.. --go_out=. --go_opt=Mpublic_input.proto=./ --go_opt=Minternal_nodes.proto=./ \
//	    public_input.proto internal_nodes.proto
//	go build -o ../../bin/audit .
package main

import (
	"fmt"

	kre "github.com/konstellation-io/kre-runners/kre-go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

func handlerInit(ctx *kre.HandlerContext) {
	ctx.Logger.Info("audit ready")
}

func handler(ctx *kre.HandlerContext, data *anypb.Any) (proto.Message, error) {
	fleet := &Fleet{}
	if err := data.UnmarshalTo(fleet); err != nil {
		return nil, fmt.Errorf("node 'audit' expects entrypoint.Fleet: %w", err)
	}
	report := &AuditReport{Customer: fleet.Customer, Shuttles: int64(len(fleet.Shuttles))}
	for _, s := range fleet.Shuttles {
		if !s.DCheckComplete {
			report.Problems = append(report.Problems, s.ShuttleId+": D check not complete")
		}
		if !s.MoonClearanceComplete {
			report.Problems = append(report.Problems, s.ShuttleId+": no moon clearance")
		}
		if !s.IataApproved {
			report.Problems = append(report.Problems, s.ShuttleId+": not IATA approved")
		}
	}
	return report, nil
}

func main() {
	kre.Start(handlerInit, handler)
}
