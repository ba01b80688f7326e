package e2e

import (
	"context"

	"go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"
)

// exportHistory returns a workflow's full history as the JSON the Temporal UI and CLI export, which the
// SDK's replayer reads.
func exportHistory(ctx context.Context, c client.Client, workflowID string) ([]byte, error) {
	it := c.GetWorkflowHistory(ctx, workflowID, "", false, 0)
	var h history.History
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, err
		}
		h.Events = append(h.Events, ev)
	}
	return protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(&h)
}
