package e2e

import (
	"context"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/history/v1"
	"go.temporal.io/api/proxy"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"portico/internal/codec"
)

// rawHistory returns a workflow's history exactly as the Temporal server stores it: payloads still sealed.
func rawHistory(ctx context.Context, c client.Client, workflowID string) (*history.History, error) {
	it := c.GetWorkflowHistory(ctx, workflowID, "", false, 0)
	var h history.History
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, err
		}
		h.Events = append(h.Events, ev)
	}
	return &h, nil
}

// exportHistory returns a workflow's full history as the JSON the Temporal UI and CLI export, which the
// SDK's replayer reads, with the payloads opened so the replay tests need no key.
func exportHistory(ctx context.Context, c client.Client, cd *codec.Codec, workflowID string) ([]byte, error) {
	h, err := rawHistory(ctx, c, workflowID)
	if err != nil {
		return nil, err
	}
	err = proxy.VisitPayloads(ctx, h, proxy.VisitPayloadsOptions{
		SkipSearchAttributes: true,
		Visitor: func(_ *proxy.VisitPayloadsContext, p []*commonpb.Payload) ([]*commonpb.Payload, error) {
			return cd.Decode(p)
		},
	})
	if err != nil {
		return nil, err
	}
	return protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(h)
}
