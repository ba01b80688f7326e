package driver

import (
	"fmt"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"portico/internal/portal"
)

const totpPeriod = 30

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// login signs in from the portal's login page: password once (a rejected password is never retried: the
// portal would lock the account), then a TOTP code from a step no other login of this account has used.
func (s *Session) login() error {
	s.step("login")
	s.d.logins.Add(1)
	if err := s.need("login", "#username", "#password", "#sign-in"); err != nil {
		return err
	}
	if err := s.do("login: fill", chromedp.SetValue(chromedp.CSS("#username"), s.acct.Credentials.Username),
		chromedp.SetValue(chromedp.CSS("#password"), s.acct.Credentials.Password)); err != nil {
		return err
	}
	if _, err := s.navigate("login: sign in", chromedp.Click(chromedp.CSS("#sign-in"))); err != nil {
		return err
	}
	u, err := s.location()
	if err != nil {
		return err
	}
	if !strings.HasPrefix(u.Path, s.base.Path+"/login/totp") {
		return s.loginRefused("password")
	}
	for attempt := 0; ; attempt++ {
		done, err := s.enterTOTP()
		if err != nil || done {
			return err
		}
		// The portal says the code was used already (someone else logged in with this account in
		// this step). Retry once in a later step; never again in the same one.
		if attempt == 1 {
			return fmt.Errorf("account %s: %w: the code was refused as already used twice; is another system logging in with this account?", s.acct.ID, portal.ErrTOTPRejected)
		}
	}
}

// enterTOTP claims a fresh step and submits its code. It reports false when the portal refused the code
// as already used.
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
	if err := s.need("login: verification code", "#code", "#verify"); err != nil {
		return false, err
	}
	if err := s.do("login: fill code", chromedp.SetValue(chromedp.CSS("#code"), code)); err != nil {
		return false, err
	}
	if _, err := s.navigate("login: verify", chromedp.Click(chromedp.CSS("#verify"))); err != nil {
		return false, err
	}
	onLogin, err := s.onLoginPage()
	if err != nil {
		return false, err
	}
	if !onLogin {
		return true, s.saveCookies()
	}
	msgs, err := s.flashErrors("login: verify")
	if err != nil {
		return false, err
	}
	if strings.Contains(strings.ToLower(msgs[""]), "already been used") {
		return false, nil
	}
	return false, s.loginRefused("code")
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
		select {
		case <-time.After(next.Sub(now)):
		case <-s.tab.Done():
			return 0, s.tab.Err()
		}
	}
}

// loginRefused names why the portal refused a login from its message.
func (s *Session) loginRefused(what string) error {
	msgs, err := s.flashErrors("login")
	if err != nil {
		return err
	}
	msg := msgs[""]
	low := strings.ToLower(msg)
	switch {
	case strings.Contains(low, "locked"):
		return fmt.Errorf("account %s: %w: %q; the buyer's administrator must unlock it", s.acct.ID, portal.ErrAccountLocked, msg)
	case strings.Contains(low, "password") && strings.Contains(low, "expired"):
		return fmt.Errorf("account %s: %w: set a new one in the portal, then update it in Portico", s.acct.ID, portal.ErrPasswordExpired)
	case what == "code":
		return fmt.Errorf("account %s: %w: %q; check the TOTP secret and the clock", s.acct.ID, portal.ErrTOTPRejected, msg)
	case msg != "":
		return fmt.Errorf("account %s: %w: %q; update the password in Portico before anything retries", s.acct.ID, portal.ErrLoginRejected, msg)
	default:
		u, _ := s.location()
		at := ""
		if u != nil {
			at = u.String()
		}
		return &portal.DriftError{Step: "login", URL: at, Detail: "neither the verification page nor an error message followed the password"}
	}
}
