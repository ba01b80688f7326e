// Package matching decides which synced purchase order an ERP invoice bills, and which ERP customer a
// portal PO belongs to. It is pure: no database, no clock, no randomness; the same input gives the same
// answer, with the reasons a person can check.
//
// An invoice is matched by three rules, in order:
//
//  1. po_number: the invoice's PO number equals a synced PO's after normalising both (POKey: case,
//     spaces, dashes, underscores, dots, a "PO"/"PO#"/"P.O." prefix and leading zeros). A PO found this way
//     is the one the ERP names: it decides the match even when it cannot take the invoice (then the
//     invoice is unmatched with the reason, as before matching existed), and no other rule overrides it.
//  2. balance: an open PO of the invoice's customer, in its currency, whose remaining balance equals the
//     invoice total.
//  3. lines: open POs of the invoice's customer, in its currency, with enough remaining balance, whose
//     lines have the invoice's part numbers, unit prices and quantities (at most the PO line's).
//
// Every candidate gets a score (0–100) and its reasons. Exactly one candidate at or above
// Options.Threshold and at least Options.Margin ahead of the next is matched; several about equally good
// are ambiguous and go to a person (never guessed); none is unmatched, with the reasons.
//
// Build an Index once per batch (all POs of a portal account) and match every invoice of the batch
// against it.
package matching

import (
	"cmp"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/shopspring/decimal"
)

// The outcomes of matching an invoice.
const (
	StatusMatched   = "matched"
	StatusAmbiguous = "ambiguous"
	StatusUnmatched = "unmatched"
)

// The rules a candidate was found by. RuleManual is a person's decision (never made here).
const (
	RulePONumber = "po_number"
	RuleBalance  = "balance"
	RuleLines    = "lines"
	RuleManual   = "manual"
)

// PO is a synced purchase order as the matcher sees it.
type PO struct {
	Number string
	// CustomerID is the ERP customer the PO's buyer entity is matched to (po_customer_matches); empty when
	// none is. Only POs of the invoice's customer are found by the balance and lines rules.
	CustomerID string
	Currency   string
	Total      decimal.Decimal
	Remaining  decimal.Decimal
	Status     string // the portal's word; see Open
	Lines      []POLine
}

// POLine is one line of a PO.
type POLine struct {
	LineNo     int
	PartNumber string
	Quantity   decimal.Decimal
	UnitPrice  decimal.Decimal
}

// Invoice is an ERP invoice to match.
type Invoice struct {
	ID         string
	CustomerID string
	PONumber   string // as the ERP has it
	Currency   string
	Total      decimal.Decimal
	Lines      []InvoiceLine
}

// InvoiceLine is one line of an ERP invoice.
type InvoiceLine struct {
	LineNo     int
	POLineNo   int
	PartNumber string
	Quantity   decimal.Decimal
	UnitPrice  decimal.Decimal
}

// Candidate is one PO the invoice may bill, with its score and the reasons for it.
type Candidate struct {
	PONumber  string
	Rule      string
	Score     int
	Remaining decimal.Decimal
	Reasons   []string
}

// Result is the outcome of matching one invoice.
type Result struct {
	InvoiceID string
	Status    string // StatusMatched, StatusAmbiguous or StatusUnmatched
	// PONumber is the matched PO; when unmatched, the PO the invoice names by number if it cannot take the
	// invoice (closed, another currency, too little remaining balance); else empty.
	PONumber  string
	Remaining decimal.Decimal // PONumber's remaining balance
	Rule      string          // the rule PONumber was found by
	Score     int
	// Reasons explain the outcome, for a person to check.
	Reasons []string
	// Candidates are the best candidates (at most Options.MaxCandidates), best first.
	Candidates []Candidate
}

// Reason is the reasons as one line.
func (r Result) Reason() string { return strings.Join(r.Reasons, "; ") }

// Options tune the decision. The zero value of a field takes its default (DefaultOptions).
type Options struct {
	// Threshold is the lowest score that is matched (default 65).
	Threshold int
	// Margin is how far the best candidate must be ahead of the next (default 10).
	Margin int
	// MaxCandidates is how many candidates a Result lists (default 5).
	MaxCandidates int
	// MaxFanout bounds how many POs one part number or one balance may point to before it is too common
	// to tell POs apart by it (default 200). It keeps a batch fast when thousands of POs share a part.
	MaxFanout int
}

// DefaultOptions are the options used when a field is zero.
func DefaultOptions() Options {
	return Options{Threshold: 65, Margin: 10, MaxCandidates: 5, MaxFanout: 200}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.Threshold <= 0 {
		o.Threshold = d.Threshold
	}
	if o.Margin <= 0 {
		o.Margin = d.Margin
	}
	if o.MaxCandidates <= 0 {
		o.MaxCandidates = d.MaxCandidates
	}
	if o.MaxFanout <= 0 {
		o.MaxFanout = d.MaxFanout
	}
	return o
}

// Scores of the rules.
const (
	scoreNumberExact      = 100 // the numbers are the same text (ignoring case and surrounding space)
	scoreNumberNormalised = 90  // the same after normalising
	penaltyOtherCustomer  = 20  // the PO's buyer entity is another customer's
	scoreBalance          = 70  // remaining balance equals the total; + up to scoreBalanceLines for lines
	scoreBalanceLines     = 25
	scoreLines            = 75 // lines only: up to this much
)

type groupKey struct{ customer, currency string }

type balKey struct {
	group  int32
	amount int64
}

type partKey struct {
	group int32
	part  string
}

// Index holds one batch of POs (one portal account's) for matching invoices. It is read-only once built
// and safe for concurrent use.
type Index struct {
	opts Options
	pos  []PO
	rem  []micros
	// group is the PO's (customer, currency) group when it is open and matched to a customer, else -1.
	group []int32
	// byKey and nextKey chain the POs by POKey.
	byKey   map[string]int32
	nextKey []int32
	groups  map[groupKey]int32
	// byBalance and nextBal chain the eligible POs by group and exact remaining balance.
	byBalance map[balKey]int32
	nextBal   []int32
	// byPart lists the eligible POs of a group that have a part, by remaining balance, largest first.
	byPart map[partKey][]int32
	// partKeys are the PartKey of every indexed PO's lines, PO i's from lineStart[i] to lineStart[i+1].
	partKeys  []string
	lineStart []int32
}

// needs are what a batch of invoices can look up: their PO keys, (customer, currency) groups, exact
// totals and part numbers. Only POs these can find are indexed.
type needs struct {
	keys  map[string]struct{}
	bal   map[balKey]struct{}
	parts map[int32]map[string]struct{}
}

// NewIndex indexes every PO of a batch, for matching any invoice against them. The POs are kept, not
// copied; do not change them while the index is used.
func NewIndex(pos []PO, opts Options) *Index { return build(pos, nil, opts) }

// NewBatchIndex indexes only the POs that the given invoices can find (by PO number, remaining balance
// or part number) and answers exactly as NewIndex(pos) does for those invoices, at a fraction of the
// cost for a large account. Match only those invoices against it.
func NewBatchIndex(pos []PO, invs []Invoice, opts Options) *Index {
	ix := newIndex(pos, opts)
	nd := &needs{keys: map[string]struct{}{}, bal: map[balKey]struct{}{}, parts: map[int32]map[string]struct{}{}}
	for i := range invs {
		inv := &invs[i]
		if k := POKey(inv.PONumber); k != "" {
			nd.keys[k] = struct{}{}
		}
		gk := groupKey{inv.CustomerID, Currency(inv.Currency)}
		g, ok := ix.groups[gk]
		if !ok {
			g = int32(len(ix.groups))
			ix.groups[gk] = g
		}
		if t := toMicros(inv.Total); t.exact {
			nd.bal[balKey{g, t.floor}] = struct{}{}
		}
		for _, l := range inv.Lines {
			if pk := PartKey(l.PartNumber); pk != "" {
				if nd.parts[g] == nil {
					nd.parts[g] = map[string]struct{}{}
				}
				nd.parts[g][pk] = struct{}{}
			}
		}
	}
	return ix.index(nd)
}

// MatchBatch matches a batch of invoices against a batch of POs, building the index once (NewBatchIndex).
func MatchBatch(pos []PO, invs []Invoice, opts Options) []Result {
	return NewBatchIndex(pos, invs, opts).MatchAll(invs)
}

func newIndex(pos []PO, opts Options) *Index {
	n := len(pos)
	return &Index{
		opts:      opts.withDefaults(),
		pos:       pos,
		rem:       make([]micros, n),
		group:     make([]int32, n),
		nextKey:   make([]int32, n),
		nextBal:   make([]int32, n),
		lineStart: make([]int32, n+1),
		groups:    map[groupKey]int32{},
		byBalance: map[balKey]int32{},
		byPart:    map[partKey][]int32{},
	}
}

func build(pos []PO, nd *needs, opts Options) *Index { return newIndex(pos, opts).index(nd) }

// index fills the index with every PO (nd nil) or only the POs nd can find. The scan of the POs runs on
// every CPU for a batch; what it finds is indexed in PO order, so the index is the same either way.
func (ix *Index) index(nd *needs) *Index {
	pos := ix.pos
	keep := make([]bool, len(pos))
	if nd == nil {
		ix.byKey = make(map[string]int32, len(pos))
		ix.scan(nil, keep, 0, len(pos))
	} else {
		ix.byKey = make(map[string]int32, len(nd.keys))
		workers := min(runtime.GOMAXPROCS(0), 1+len(pos)/50_000)
		var wg sync.WaitGroup
		for w := range workers {
			lo, hi := len(pos)*w/workers, len(pos)*(w+1)/workers
			wg.Go(func() { ix.scan(nd, keep, lo, hi) })
		}
		wg.Wait()
	}
	var keyBuf []byte
	var seen []string
	for i := range pos {
		ix.lineStart[i] = int32(len(ix.partKeys))
		if !keep[i] {
			ix.group[i] = -1
			continue
		}
		p := &pos[i]
		id := int32(i)
		if keyBuf = appendPOKey(keyBuf[:0], p.Number); len(keyBuf) > 0 {
			k := string(keyBuf)
			if head, ok := ix.byKey[k]; ok {
				ix.nextKey[i] = head
			}
			ix.byKey[k] = id
		}
		for _, l := range p.Lines {
			ix.partKeys = append(ix.partKeys, PartKey(l.PartNumber))
		}
		g := ix.group[i]
		if g < 0 {
			continue
		}
		if r := ix.rem[i]; r.exact {
			bk := balKey{g, r.floor}
			if head, ok := ix.byBalance[bk]; ok {
				ix.nextBal[i] = head
			}
			ix.byBalance[bk] = id
		}
		seen = seen[:0]
		for _, pk := range ix.partKeys[ix.lineStart[i]:] {
			if pk == "" || slices.Contains(seen, pk) {
				continue
			}
			seen = append(seen, pk)
			k := partKey{g, pk}
			ix.byPart[k] = append(ix.byPart[k], id)
		}
	}
	ix.lineStart[len(pos)] = int32(len(ix.partKeys))
	for _, list := range ix.byPart {
		if len(list) > 1 {
			slices.SortFunc(list, func(a, b int32) int {
				if c := cmp.Compare(ix.rem[b].floor, ix.rem[a].floor); c != 0 {
					return c
				}
				return cmp.Compare(a, b)
			})
		}
	}
	return ix
}

// scan reads POs lo to hi: their remaining balance in millionths, their group, and whether to index them
// (always when nd is nil; else when a batch invoice can find them). With nd nil it creates groups and must
// run alone; with nd set the groups are the batch's and it only reads shared state.
func (ix *Index) scan(nd *needs, keep []bool, lo, hi int) {
	var keyBuf, partBuf []byte
	var lastCust, lastCur string
	lastG := int32(-1)
	for i := lo; i < hi; i++ {
		p := &ix.pos[i]
		ix.nextKey[i], ix.nextBal[i] = -1, -1
		ix.rem[i] = toMicros(p.Remaining)
		g := int32(-1)
		if p.CustomerID != "" && Open(p.Status) {
			if lastG >= 0 && p.CustomerID == lastCust && p.Currency == lastCur {
				g = lastG
			} else {
				gk := groupKey{p.CustomerID, Currency(p.Currency)}
				var ok bool
				if g, ok = ix.groups[gk]; !ok {
					g = -1 // in a batch: no invoice is of this customer and currency
					if nd == nil {
						g = int32(len(ix.groups))
						ix.groups[gk] = g
					}
				}
				if g >= 0 {
					lastCust, lastCur, lastG = p.CustomerID, p.Currency, g
				}
			}
		}
		ix.group[i] = g
		if nd == nil {
			keep[i] = true
			continue
		}
		keyBuf = appendPOKey(keyBuf[:0], p.Number)
		if _, ok := nd.keys[string(keyBuf)]; ok {
			keep[i] = true
			continue
		}
		if g < 0 {
			continue
		}
		if r := ix.rem[i]; r.exact {
			if _, ok := nd.bal[balKey{g, r.floor}]; ok {
				keep[i] = true
				continue
			}
		}
		if want := nd.parts[g]; want != nil {
			for _, l := range p.Lines {
				partBuf = appendPartKey(partBuf[:0], l.PartNumber)
				if _, ok := want[string(partBuf)]; ok {
					keep[i] = true
					break
				}
			}
		}
	}
}

// Len is how many POs the index holds.
func (ix *Index) Len() int { return len(ix.pos) }

// Match matches one invoice against the batch.
func Match(inv Invoice, pos []PO, opts Options) Result { return NewIndex(pos, opts).Match(inv) }

// MatchAll matches every invoice against the index, in order.
func (ix *Index) MatchAll(invs []Invoice) []Result {
	out := make([]Result, len(invs))
	for i := range invs {
		out[i] = ix.Match(invs[i])
	}
	return out
}

// scored is a candidate before its reasons are written.
type scored struct {
	po     int32
	rule   string
	score  int
	exact  bool // number rule: the same text
	other  bool // number rule: the PO is another customer's
	points int  // line points (of 10 per billed line)
}

// prepared is an invoice with what every candidate is compared with computed once.
type prepared struct {
	inv      *Invoice
	currency string
	total    micros
	billed   []int // indexes of lines with a positive quantity
	parts    []string
}

func prepare(inv *Invoice) prepared {
	p := prepared{inv: inv, currency: Currency(inv.Currency), total: toMicros(inv.Total)}
	for i, l := range inv.Lines {
		k := PartKey(l.PartNumber)
		p.parts = append(p.parts, k)
		if l.Quantity.IsPositive() {
			p.billed = append(p.billed, i)
		}
	}
	return p
}

// Match matches one invoice against the batch.
func (ix *Index) Match(inv Invoice) Result {
	p := prepare(&inv)
	res := Result{InvoiceID: inv.ID}
	key, _ := poKey(inv.PONumber)

	var byNumber []scored
	if key != "" {
		for i, ok := ix.byKey[key]; ok && i >= 0; i = ix.nextKey[i] {
			s := scored{po: i, rule: RulePONumber, score: scoreNumberNormalised}
			if strings.EqualFold(strings.TrimSpace(ix.pos[i].Number), strings.TrimSpace(inv.PONumber)) {
				s.exact, s.score = true, scoreNumberExact
			}
			if c := ix.pos[i].CustomerID; c != "" && c != inv.CustomerID {
				s.other = true
				s.score -= penaltyOtherCustomer
			}
			byNumber = append(byNumber, s)
		}
	}
	if len(byNumber) > 0 {
		sortScored(ix, byNumber)
		status, n := ix.decide(byNumber)
		best := byNumber[0]
		switch status {
		case StatusMatched:
			po := &ix.pos[best.po]
			res.PONumber, res.Remaining, res.Rule, res.Score = po.Number, po.Remaining, best.rule, best.score
			res.Reasons = ix.reasons(&p, best)
			if problems := Fit(inv, *po); len(problems) > 0 {
				// The PO the ERP names cannot take the invoice: a person decides, nothing else is tried.
				res.Status = StatusUnmatched
				res.Reasons = problems
			} else {
				res.Status = StatusMatched
			}
		case StatusAmbiguous:
			res.Status = status
			res.Reasons = []string{ambiguity(ix, byNumber[:n], "PO numbers match the invoice's "+quote(inv.PONumber))}
		default:
			res.Status = status
			res.Reasons = []string{fmt.Sprintf("PO %s matches the invoice's PO number %s but scores %d, below the threshold of %d",
				ix.pos[best.po].Number, quote(inv.PONumber), best.score, ix.opts.Threshold)}
			res.Reasons = append(res.Reasons, ix.reasons(&p, best)...)
		}
		cands := byNumber
		if res.Status != StatusMatched {
			// Other POs that would fit are listed for the person; they cannot override the number.
			alt, _ := ix.byContent(&p)
			sortScored(ix, alt)
			cands = append(cands, alt...)
		}
		res.Candidates = ix.candidates(&p, cands)
		return res
	}

	if strings.TrimSpace(inv.PONumber) == "" {
		res.Reasons = append(res.Reasons, "the ERP invoice names no PO number")
	} else {
		r := fmt.Sprintf("PO %s is not among the POs synced from the portal", inv.PONumber)
		if key != "" && key != strings.ToUpper(strings.TrimSpace(inv.PONumber)) {
			r += fmt.Sprintf(" (no synced PO number normalises to %s)", key)
		}
		res.Reasons = append(res.Reasons, r)
	}
	cands, notes := ix.byContent(&p)
	sortScored(ix, cands)
	res.Candidates = ix.candidates(&p, cands)
	status, n := ix.decide(cands)
	switch {
	case notes.tooMany != "":
		res.Status = StatusAmbiguous
		res.Reasons = append(res.Reasons, notes.tooMany)
	case status == StatusMatched:
		best := cands[0]
		po := &ix.pos[best.po]
		res.Status, res.PONumber, res.Remaining, res.Rule, res.Score = StatusMatched, po.Number, po.Remaining, best.rule, best.score
		res.Reasons = append(res.Reasons, ix.reasons(&p, best)...)
	case status == StatusAmbiguous:
		res.Status = StatusAmbiguous
		res.Reasons = append(res.Reasons, ambiguity(ix, cands[:n], "POs of the customer fit"))
	default:
		res.Status = StatusUnmatched
		res.Reasons = append(res.Reasons, notes.why...)
		if len(cands) > 0 {
			best := cands[0]
			res.Reasons = append(res.Reasons, fmt.Sprintf("the best candidate, %s, scores %d, below the threshold of %d",
				ix.pos[best.po].Number, best.score, ix.opts.Threshold))
		}
	}
	return res
}

// decide returns the status of sorted candidates and, when ambiguous, how many tie at the top.
func (ix *Index) decide(c []scored) (string, int) {
	if len(c) == 0 || c[0].score < ix.opts.Threshold {
		return StatusUnmatched, 0
	}
	n := 1
	for n < len(c) && c[n].score > c[0].score-ix.opts.Margin {
		n++
	}
	if n > 1 {
		return StatusAmbiguous, n
	}
	return StatusMatched, 1
}

func ambiguity(ix *Index, tied []scored, what string) string {
	names := make([]string, len(tied))
	for i, s := range tied {
		names[i] = fmt.Sprintf("%s (score %d)", ix.pos[s.po].Number, s.score)
	}
	return fmt.Sprintf("%d %s about equally well: %s; a person must choose (manual match)", len(tied), what, andList(names))
}

func sortScored(ix *Index, c []scored) {
	sort.SliceStable(c, func(a, b int) bool {
		if c[a].score != c[b].score {
			return c[a].score > c[b].score
		}
		return ix.pos[c[a].po].Number < ix.pos[c[b].po].Number
	})
}

// contentNotes say why the balance and lines rules found nothing, or found too much.
type contentNotes struct {
	why     []string
	tooMany string
}

// byContent finds and scores the candidates of the balance and lines rules: open POs of the invoice's
// customer in its currency with enough remaining balance.
func (ix *Index) byContent(p *prepared) ([]scored, contentNotes) {
	var notes contentNotes
	inv := p.inv
	// A group no PO is in finds nothing, with the same reasons as an empty one (a batch index has a group
	// for every invoice, one built for a single invoice may not).
	g, ok := ix.groups[groupKey{inv.CustomerID, p.currency}]
	if !ok {
		g = -1
	}
	total := formatAmount(inv.Total, inv.Currency)
	var ids []int32
	if p.total.exact {
		var bal []int32
		for i, ok := ix.byBalance[balKey{g, p.total.floor}]; ok && i >= 0; i = ix.nextBal[i] {
			bal = append(bal, i)
		}
		switch {
		case len(bal) > ix.opts.MaxFanout:
			notes.tooMany = fmt.Sprintf("more than %d open POs of customer %s have a remaining balance of %s, the invoice total: too many to tell apart", ix.opts.MaxFanout, inv.CustomerID, total)
			bal = nil
		case len(bal) == 0:
			notes.why = append(notes.why, fmt.Sprintf("no open PO of customer %s has a remaining balance of %s, the invoice total", inv.CustomerID, total))
		}
		ids = append(ids, bal...)
	}
	var parts, common []string
	for _, pk := range p.parts {
		if pk == "" || slices.Contains(parts, pk) || slices.Contains(common, pk) {
			continue
		}
		list := ix.byPart[partKey{g, pk}]
		// The eligible ones: remaining balance at least the total (the list is sorted, largest first).
		n := sort.Search(len(list), func(i int) bool { return ix.rem[list[i]].floor < p.total.floor })
		if n > ix.opts.MaxFanout {
			common = append(common, pk)
			continue
		}
		parts = append(parts, pk)
		ids = append(ids, list[:n]...)
	}
	if len(common) > 0 {
		notes.why = append(notes.why, fmt.Sprintf("part %s is on more than %d open POs of customer %s: too common to tell POs apart by it", andList(common), ix.opts.MaxFanout, inv.CustomerID))
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 {
		if len(parts) == 0 && len(common) == 0 {
			notes.why = append(notes.why, "the invoice lines name no part numbers")
		} else if len(parts) > 0 {
			notes.why = append(notes.why, fmt.Sprintf("no open PO of customer %s with at least %s remaining has part %s", inv.CustomerID, total, andList(parts)))
		}
		return nil, notes
	}
	out := make([]scored, 0, len(ids))
	for _, id := range ids {
		s := scored{po: id, points: ix.linePoints(p, id)}
		if ix.rem[id].exact && p.total.exact && ix.rem[id].floor == p.total.floor {
			s.rule, s.score = RuleBalance, scoreBalance+ratio(scoreBalanceLines, s.points, len(p.billed))
		} else {
			s.rule, s.score = RuleLines, ratio(scoreLines, s.points, len(p.billed))
		}
		out = append(out, s)
	}
	return out, notes
}

// ratio is max × points / (10 × lines), rounded.
func ratio(max, points, lines int) int {
	if lines == 0 {
		return 0
	}
	return (2*max*points + 10*lines) / (20 * lines)
}

// lineFit is how one invoice line fits its best PO line.
type lineFit struct {
	poLine           int // index in the PO's lines, -1 none
	part, price, qty bool
	points           int
	invLine          int
}

func (ix *Index) fitLine(p *prepared, po int32, li int) lineFit {
	l := &p.inv.Lines[li]
	lines := ix.pos[po].Lines
	keys := ix.partKeys[ix.lineStart[po]:ix.lineStart[po+1]]
	best := lineFit{poLine: -1, invLine: li}
	for j := range lines {
		pl := &lines[j]
		f := lineFit{poLine: j, invLine: li}
		f.part = p.parts[li] != "" && keys[j] == p.parts[li]
		f.price = l.UnitPrice.Equal(pl.UnitPrice)
		if !f.part && !f.price {
			continue
		}
		f.qty = l.Quantity.LessThanOrEqual(pl.Quantity)
		if f.part {
			f.points += 5
		}
		if f.price {
			f.points += 3
		}
		if f.qty {
			f.points += 2
		}
		if f.points > best.points || f.points == best.points && best.poLine >= 0 && pl.LineNo == l.POLineNo {
			best = f
		}
	}
	return best
}

func (ix *Index) linePoints(p *prepared, po int32) int {
	sum := 0
	for _, li := range p.billed {
		sum += ix.fitLine(p, po, li).points
	}
	return sum
}

// candidates writes the reasons of the best candidates.
func (ix *Index) candidates(p *prepared, c []scored) []Candidate {
	if len(c) > ix.opts.MaxCandidates {
		c = c[:ix.opts.MaxCandidates]
	}
	out := make([]Candidate, len(c))
	for i, s := range c {
		po := &ix.pos[s.po]
		out[i] = Candidate{PONumber: po.Number, Rule: s.rule, Score: s.score, Remaining: po.Remaining, Reasons: ix.reasons(p, s)}
	}
	return out
}

// reasons are what a person reads about one candidate.
func (ix *Index) reasons(p *prepared, s scored) []string {
	po := &ix.pos[s.po]
	inv := p.inv
	var r []string
	switch s.rule {
	case RulePONumber:
		if s.exact {
			r = append(r, fmt.Sprintf("PO number %s is the invoice's PO number", po.Number))
		} else {
			_, a := poKey(inv.PONumber)
			_, b := poKey(po.Number)
			r = append(r, fmt.Sprintf("PO number %s matches the invoice's %s after %s", po.Number, quote(inv.PONumber), a.union(b).describe()))
		}
		if s.other {
			r = append(r, fmt.Sprintf("but the PO's buyer entity is customer %s's, not the invoice's customer %s", po.CustomerID, inv.CustomerID))
		}
		if problems := Fit(*inv, *po); len(problems) > 0 {
			r = append(r, problems...)
		} else {
			r = append(r, fmt.Sprintf("%s is %s and its remaining balance %s covers the invoice total %s", po.Number, po.Status,
				formatAmount(po.Remaining, po.Currency), formatAmount(inv.Total, inv.Currency)))
		}
		return r
	case RuleBalance:
		r = append(r, fmt.Sprintf("remaining balance %s equals the invoice total", formatAmount(po.Remaining, po.Currency)))
	default:
		r = append(r, fmt.Sprintf("remaining balance %s covers the invoice total %s", formatAmount(po.Remaining, po.Currency), formatAmount(inv.Total, inv.Currency)))
	}
	r = append(r, fmt.Sprintf("%s is an open %s PO of the invoice's customer %s", po.Number, Currency(po.Currency), inv.CustomerID))
	if len(p.billed) > 0 {
		r = append(r, fmt.Sprintf("lines fit %d%%", ratio(100, s.points, len(p.billed))))
	}
	for _, li := range p.billed {
		r = append(r, ix.describeFit(p, s.po, ix.fitLine(p, s.po, li)))
	}
	return r
}

func (ix *Index) describeFit(p *prepared, po int32, f lineFit) string {
	l := &p.inv.Lines[f.invLine]
	what := fmt.Sprintf("line %d (%s × %s at %s)", l.LineNo, orDash(l.PartNumber), formatQty(l.Quantity), l.UnitPrice.String())
	if f.poLine < 0 {
		return what + ": no PO line has its part number or unit price"
	}
	pl := &ix.pos[po].Lines[f.poLine]
	var ok, bad []string
	if f.part {
		ok = append(ok, "part number")
	} else {
		bad = append(bad, fmt.Sprintf("part %s differs", orDash(pl.PartNumber)))
	}
	if f.price {
		ok = append(ok, "unit price")
	} else {
		bad = append(bad, fmt.Sprintf("unit price %s differs", pl.UnitPrice.String()))
	}
	if f.qty {
		ok = append(ok, fmt.Sprintf("quantity within the PO line's %s", formatQty(pl.Quantity)))
	} else {
		bad = append(bad, fmt.Sprintf("quantity is above the PO line's %s", formatQty(pl.Quantity)))
	}
	s := fmt.Sprintf("%s fits PO line %d", what, pl.LineNo)
	if len(ok) > 0 {
		s += ": same " + andList(ok)
	}
	if len(bad) > 0 {
		s += "; " + andList(bad)
	}
	return s
}

// Fit lists why a PO cannot take an invoice: another currency, a status that takes no invoices, or a
// remaining balance below the invoice total. Empty: it can.
func Fit(inv Invoice, po PO) []string {
	var p []string
	switch {
	case Currency(po.Currency) != Currency(inv.Currency):
		p = append(p, fmt.Sprintf("PO %s is in %s, the invoice in %s", po.Number, po.Currency, inv.Currency))
	case !Open(po.Status):
		p = append(p, fmt.Sprintf("PO %s is %s in the portal", po.Number, po.Status))
	case inv.Total.GreaterThan(po.Remaining):
		p = append(p, fmt.Sprintf("invoice total %s %s is above the PO's remaining balance %s", inv.Total, inv.Currency, po.Remaining))
	}
	return p
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "no part number"
	}
	return s
}
