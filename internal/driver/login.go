package driver

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"portico/internal/portal"
	"portico/internal/portaldef"
)

const totpPeriod = 30

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// login signs in from the portal's sign-in form: the password once (a rejected password is never retried:
// the portal would lock the account), then a TOTP code from a step no other login of this account has used.
// took reports that it did not sign in but gave the tab the session another tab signed in to meanwhile.
func (s *Session) login() (took bool, err error) {
	// One sign-in per account at a time in this process: tabs that meet the sign-in form while another
	// signs in wait for it and take its session (the caller loads its page again), rather than each
	// signing in and the later ones waiting for a TOTP step of their own.
	mu := s.d.signInLock(s.acct.ID)
	mu.Lock()
	defer mu.Unlock()
	if took, err := s.takeNewerSession(); took || err != nil {
		return took, err
	}
	// The portal asked for a sign-in: whatever session this tab started from is over.
	if err := s.forgetSession(); err != nil {
		return false, err
	}
	if err := s.d.refusedBefore(s.tab, s.acct.ID, s.acct.Credentials); err != nil {
		s.observeLogin(blockedOutcome(err))
		return false, err
	}
	err = s.loginOnce()
	s.observeLogin(loginOutcome(err))
	if errors.Is(err, portal.ErrLoginRejected) || errors.Is(err, portal.ErrTOTPRejected) ||
		errors.Is(err, portal.ErrAccountLocked) || errors.Is(err, portal.ErrPasswordExpired) {
		if nerr := s.d.noteRefusal(s.tab, s.acct.ID, s.acct.Credentials, err); nerr != nil {
			return false, fmt.Errorf("%w (and remembering the refusal failed: %v)", err, nerr)
		}
	}
	return false, err
}

func (s *Session) loginOnce() error {
	defer s.timed(StepLogin)()
	s.step("login")
	s.d.logins.Add(1)
	vars := map[string]string{"username": s.acct.Credentials.Username, "password": s.acct.Credentials.Password}
	if err := s.runLoginSteps("login", s.def.Login.Steps, vars); err != nil {
		return err
	}
	next, msg, err := s.afterLoginStep("login")
	if err != nil {
		return err
	}
	switch next {
	case loginDone: // the portal remembered this browser and asked no code
		return s.saveCookies()
	case loginRefused:
		return s.refused("password", msg)
	}
	for attempt := 0; ; attempt++ {
		done, err := s.enterTOTP()
		if err != nil || done {
			return err
		}
		// The portal says the code was used already (someone else logged in with this account in this
		// step). Retry once in a later step; never again in the same one.
		if attempt == 1 {
			return fmt.Errorf("account %s: the code was refused as already used in two steps running; is another system logging in with this account? %w", s.acct.ID, portal.ErrUnavailable)
		}
	}
}

// runLoginSteps runs sign-in steps; a sign-in form that reappears is the answer to read, not a new login.
func (s *Session) runLoginSteps(flow string, steps []portaldef.Step, vars map[string]string) error {
	for i, st := range steps {
		name := fmt.Sprintf("%s step %d", flow, i+1)
		var err error
		switch {
		case st.Click != nil:
			err = s.clickAt(name, *st.Click, nil, st)
		default:
			err = s.runStep(name, st, vars, stepExtras{})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

type loginNext int

const (
	loginTOTP loginNext = iota
	loginDone
	loginRefused
)

// afterLoginStep reads where a sign-in step led: the code page, the portal itself, or a refusal.
func (s *Session) afterLoginStep(step string) (loginNext, string, error) {
	ctx, cancel := s.stepCtx()
	defer cancel()
	deadline := time.Now().Add(s.d.cfg.Settle)
	for {
		msgs, err := s.pageMessages(ctx)
		if err != nil {
			return 0, "", s.stepErr(step, err)
		}
		if m := msgs[""]; m != "" {
			return loginRefused, m, nil
		}
		code, err := s.present(ctx, s.def.Login.TOTP.Form)
		if err != nil {
			return 0, "", s.stepErr(step, err)
		}
		if code {
			return loginTOTP, "", nil
		}
		form, err := s.present(ctx, s.def.Login.Form)
		if err != nil {
			return 0, "", s.stepErr(step, err)
		}
		if !form {
			if busy, _ := s.busy(ctx); !busy {
				return loginDone, "", nil
			}
		}
		if time.Now().After(deadline) || s.def.Busy == "" && form {
			return 0, "", s.drift(step, "", "neither the verification page, the portal, nor an error message followed")
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return 0, "", s.stepErr(step, err)
		}
	}
}

// enterTOTP claims a fresh step and submits its code. It reports false when the portal refused the code as
// already used.
func (s *Session) enterTOTP() (bool, error) {
	s.step("login: verification code")
	step, err := s.claimStep()
	if err != nil {
		return false, err
	}
	code, err := totp.GenerateCodeCustom(s.acct.Credentials.TOTPSecret, time.Unix(step*totpPeriod, 0), totpOpts)
	if err != nil {
		// The message of pquerna/otp never includes the secret.
		return false, fmt.Errorf("account %s: TOTP secret unusable: %w", s.acct.ID, err)
	}
	if err := s.runLoginSteps("login: verification code", s.def.Login.TOTP.Steps, map[string]string{"totp": code}); err != nil {
		return false, err
	}
	next, msg, err := s.afterLoginStep("login: verify")
	if err != nil {
		return false, err
	}
	switch next {
	case loginDone:
		return true, s.saveCookies()
	case loginTOTP:
		return false, s.drift("login: verify", s.def.Login.TOTP.Form.String(), "the code page came back without a message")
	}
	if containsAny(msg, s.def.Login.Refusals.CodeUsed) {
		return false, nil
	}
	return false, s.refused("code", msg)
}

// claimStep waits, if need be, for a TOTP step no login of this account has used yet.
func (s *Session) claimStep() (int64, error) {
	for {
		now := s.d.cfg.Now()
		step := now.Unix() / totpPeriod
		ok, err := s.d.cfg.Claims.ClaimTOTPStep(s.tab, s.acct.ID, step)
		if err != nil {
			return 0, fmt.Errorf("claim TOTP step: %w", err)
		}
		if ok {
			return step, nil
		}
		next := time.Unix((step+1)*totpPeriod, 0).Add(100 * time.Millisecond)
		s.step("login: waiting for the next TOTP step")
		if err := sleep(s.tab, next.Sub(now)); err != nil {
			return 0, err
		}
	}
}

func containsAny(msg string, frags []string) bool {
	low := strings.ToLower(msg)
	for _, f := range frags {
		if f != "" && strings.Contains(low, strings.ToLower(f)) {
			return true
		}
	}
	return false
}

// refused names why the portal refused a login, carrying the portal's own message.
func (s *Session) refused(what, msg string) error {
	r := s.def.Login.Refusals
	switch {
	case containsAny(msg, r.Locked):
		return fmt.Errorf("account %s: %w: %q; the buyer's administrator must unlock it", s.acct.ID, portal.ErrAccountLocked, msg)
	case containsAny(msg, r.PasswordExpired):
		return fmt.Errorf("account %s: %w: %q; set a new one in the portal, then update it in Portico", s.acct.ID, portal.ErrPasswordExpired, msg)
	case what == "code":
		return fmt.Errorf("account %s: %w: %q; check the TOTP secret and the clock", s.acct.ID, portal.ErrTOTPRejected, msg)
	default:
		return fmt.Errorf("account %s: %w: %q; update the password in Portico before anything retries", s.acct.ID, portal.ErrLoginRejected, msg)
	}
}
