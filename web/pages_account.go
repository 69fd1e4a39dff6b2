package web

import (
	"net/http"
	"strings"

	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/errs"
)

func (s *Server) signUpPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "signup", page{Title: "Create an account", Data: map[string]any{"Form": newForm()}})
}

func (s *Server) signInPage(w http.ResponseWriter, r *http.Request) {
	if visitorFrom(r.Context()).SignedIn() {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "signin", page{Title: "Sign in", Data: map[string]any{
		"Form": newForm(), "Next": safeNext(r.URL.Query().Get("next")),
	}})
}

func (s *Server) signUp(w http.ResponseWriter, r *http.Request) {
	f := newForm()
	for _, k := range []string{"name", "email"} {
		f.Values[k] = strings.TrimSpace(r.PostForm.Get(k))
	}
	password := r.PostForm.Get("password")
	fail := func(err error) {
		f.setError(err, nil)
		s.render(w, r, errs.HTTPStatus(errs.KindOf(err)), "signup", page{Title: "Create an account", Data: map[string]any{"Form": f}})
	}
	if err := s.shop.Accounts.SignUp(r.Context(), f.Values["email"], password, f.Values["name"]); err != nil {
		fail(err)
		return
	}
	// The service answers a sign-up alike for a new email and a known one;
	// the sign-in tells them apart.
	t, err := s.shop.Accounts.Login(r.Context(), f.Values["email"], password, clientAddr(r, s.trustXFF))
	if err != nil {
		if errs.Is(err, errs.Unauthenticated) {
			err = errs.New(errs.Conflict, "this email may have an account already: sign in instead")
		}
		fail(err)
		return
	}
	s.startSession(w, r, t, "/", "welcome")
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	f := newForm()
	f.Values["email"] = strings.TrimSpace(r.PostForm.Get("email"))
	next := safeNext(r.PostForm.Get("next"))
	t, err := s.shop.Accounts.Login(r.Context(), f.Values["email"], r.PostForm.Get("password"), clientAddr(r, s.trustXFF))
	if err != nil {
		if errs.Is(err, errs.Unauthenticated) {
			err = errs.New(errs.Unauthenticated, "that email and password do not match an account")
		}
		f.setError(err, nil)
		s.render(w, r, errs.HTTPStatus(errs.KindOf(err)), "signin", page{Title: "Sign in", Data: map[string]any{"Form": f, "Next": next}})
		return
	}
	s.startSession(w, r, t, next, "signedin")
}

// startSession sets the cookies of a new sign-in and moves the guest's
// cart into the account's.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, t Tokens, next, notice string) {
	id, err := s.sessions.verifier.Verify(r.Context(), t.AccessToken)
	if err != nil {
		s.fail(w, r, errs.Wrap(err, errs.Unavailable, "signing in failed, try again in a moment"))
		return
	}
	s.sessions.SignIn(w, r, t)
	if guest := s.sessions.GuestCart(r); len(guest) > 0 {
		if err := s.carts.Add(r.Context(), id.UserID, guest...); err != nil {
			// The guest cookie stays: the next sign-in merges it again.
			level.Warn(s.logger).Log("msg", "merging a guest cart", "err", err)
		} else {
			s.sessions.SetGuestCart(w, r, nil)
			notice = "merged"
		}
	}
	sep := "?"
	if strings.Contains(next, "?") {
		sep = "&"
	}
	http.Redirect(w, r, next+sep+"m="+notice, http.StatusSeeOther)
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	if rt := s.sessions.SignOut(w, r); rt != "" {
		if err := s.shop.Accounts.Logout(r.Context(), rt); err != nil {
			level.Warn(s.logger).Log("msg", "revoking a refresh token at sign-out", "err", err)
		}
	}
	http.Redirect(w, r, "/?m=signedout", http.StatusSeeOther)
}

func (s *Server) account(w http.ResponseWriter, r *http.Request) {
	s.renderAccount(w, r, http.StatusOK, newForm())
}

func (s *Server) renderAccount(w http.ResponseWriter, r *http.Request, status int, f Form) {
	v := visitorFrom(r.Context())
	me, err := s.shop.Accounts.Me(r.Context(), v.Token)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, status, "account", page{Title: "Your account", Data: map[string]any{"Me": me, "Form": f}})
}

func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	v := visitorFrom(r.Context())
	err := s.shop.Accounts.ChangePassword(r.Context(), v.Token, r.PostForm.Get("current_password"), r.PostForm.Get("password"))
	if err != nil {
		f := newForm()
		f.setError(err, nil)
		s.renderAccount(w, r, errs.HTTPStatus(errs.KindOf(err)), f)
		return
	}
	http.Redirect(w, r, "/account?m=password", http.StatusSeeOther)
}
