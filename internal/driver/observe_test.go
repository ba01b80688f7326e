package driver_test

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"portico/internal/driver"
	"portico/internal/portal"
)

// observed records what a driver tells its Observer.
type observed struct {
	mu     sync.Mutex
	logins []string          // portal/outcome
	steps  map[string]int    // portal/step → count
	took   map[string]string // a step that reported a negative or absurd time → why
}

func newObserved() *observed { return &observed{steps: map[string]int{}, took: map[string]string{}} }

func (o *observed) Login(portalName, outcome string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.logins = append(o.logins, portalName+"/"+outcome)
}

func (o *observed) Step(portalName, step string, took time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.steps[portalName+"/"+step]++
	if took <= 0 || took > time.Minute {
		o.took[step] = took.String()
	}
}

func (o *observed) snapshot() ([]string, map[string]int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	steps := map[string]int{}
	for k, v := range o.steps {
		steps[k] = v
	}
	return slices.Clone(o.logins), steps
}

var stepNames = []string{driver.StepPageLoad, driver.StepLogin, driver.StepListPOs, driver.StepReadPO, driver.StepFindPO, driver.StepFindInvoice,
	driver.StepReadStatus, driver.StepCreateDraft, driver.StepSubmit, driver.StepDeleteDraft, driver.StepCaptureInvoice}

// The observer hears each sign-in with its outcome and each step by a name from the closed set, labelled
// with the portal definition's name, and SubmitDraft tells a real submission from a retry's re-find.
func TestObserverHearsLoginsAndSteps(t *testing.T) {
	eachFlavor(t, func(t *testing.T, f *fixture) {
		o := newObserved()
		f.drv = driver.New(f.drv.Browser(), driver.Config{Claims: f.claims, StepTimeout: 10 * time.Second, Observer: o})
		name := f.acct.Portal.Name
		s := f.session(t)
		if s.Portal() != name {
			t.Fatalf("session portal %q, want %q", s.Portal(), name)
		}
		if err := s.ListPurchaseOrders(driver.ListOptions{Lines: driver.AllLines}, func(int, []portal.PurchaseOrder) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateDraft(draft("INV-O1")); err != nil {
			t.Fatal(err)
		}
		if _, submitted, err := s.SubmitDraft("INV-O1"); err != nil || !submitted {
			t.Fatalf("first submit: submitted %v, %v", submitted, err)
		}
		if inv, submitted, err := s.SubmitDraft("INV-O1"); err != nil || submitted || inv.Status != portal.StatusWithBuyer {
			t.Fatalf("second submit: %+v submitted %v, %v", inv, submitted, err)
		}
		logins, steps := o.snapshot()
		if !slices.Equal(logins, []string{name + "/" + driver.LoginOK}) {
			t.Fatalf("logins %v", logins)
		}
		want := map[string]int{
			driver.StepLogin: 1, driver.StepListPOs: 2, driver.StepReadPO: 3, driver.StepCreateDraft: 1, driver.StepSubmit: 1,
		}
		for step, n := range want {
			if got := steps[name+"/"+step]; got != n {
				t.Errorf("%s observed %d times, want %d (all: %v)", step, got, n, steps)
			}
		}
		for _, step := range []string{driver.StepPageLoad, driver.StepFindInvoice, driver.StepReadStatus} {
			if steps[name+"/"+step] == 0 {
				t.Errorf("%s not observed (all: %v)", step, steps)
			}
		}
		for key := range steps {
			if !slices.Contains(stepNames, key[len(name)+1:]) {
				t.Errorf("step %q is not one of the driver's names", key)
			}
		}
		if len(o.took) > 0 {
			t.Errorf("implausible step times: %v", o.took)
		}

		// A refused password is heard as refused; the next session does not try it, and is heard as blocked.
		bad := f.acct
		bad.ID, bad.Credentials.Password = "acct-bad", "wrong"
		for i, outcome := range []string{driver.LoginRefused, driver.LoginBlocked} {
			bs, err := f.drv.Open(t.Context(), bad, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = bs.FindInvoice("INV-O1")
			bs.Close()
			if !errors.Is(err, portal.ErrLoginRejected) {
				t.Fatalf("session %d: %v", i+1, err)
			}
			if logins, _ := o.snapshot(); logins[len(logins)-1] != name+"/"+outcome {
				t.Fatalf("session %d: logins %v, want %s last", i+1, logins, outcome)
			}
		}
		if n := f.sim.CountEvents("login_failed", ""); n != 1 {
			t.Fatalf("%d failed logins at the portal", n)
		}
	})
}
