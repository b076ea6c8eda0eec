package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/backchannel/backchannel/web/internal/webtest"
	"github.com/backchannel/backchannel/web/session"
)

// chromium finds the browser the tests drive: Debian's chromium. Without it the browser tests
// are skipped, unless BACKCHANNEL_BROWSER=required (as CI sets), when they fail.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("BACKCHANNEL_BROWSER") == "required" {
		t.Fatal("no chromium to drive: install it (apt-get install chromium)")
	}
	t.Skip("no chromium to drive (apt-get install chromium); BACKCHANNEL_BROWSER=required makes this a failure")
	return ""
}

// browser is one profile of a real browser: its own process, user-data directory (so its own
// IndexedDB and localStorage), time zone and language.
type browser struct {
	t    *testing.T
	name string
	ctx  context.Context
	base string
	shot string
}

func newBrowser(t *testing.T, exe, base, name, tz, lang string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), name)),
		chromedp.WindowSize(1366, 900),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Env("TZ="+tz),
		chromedp.Flag("lang", lang),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	// The first run starts the browser; it must not carry a timeout (chromedp.Run).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: starting chromium: %v", name, err)
	}
	return &browser{t: t, name: name, ctx: ctx, base: base, shot: screenshots(t)}
}

// screenshots is where the tests save a screenshot of each main screen:
// $BACKCHANNEL_SCREENSHOTS, or a directory the test logs.
func screenshots(t *testing.T) string {
	dir := os.Getenv("BACKCHANNEL_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "backchannel-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// do runs steps, each bounded: a page that never gets there fails the test with what it shows.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`'[errors] ' + [...document.querySelectorAll('.error')].map((e) => e.innerText).join(' | ') + '\n[status] ' + document.getElementById('status').textContent`))
		b.t.Fatalf("%s: %s: %v\nthe page shows:\n%s", b.name, what, err, text)
	}
}

// eval runs JavaScript in the page and decodes its value.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: %s: %v", b.name, expr, err)
	}
	return v
}

// wait waits until a JavaScript predicate holds in the page.
func (b *browser) wait(what, predicate string) {
	b.t.Helper()
	b.do(what, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](predicate, chromedp.WithPollingTimeout(55*time.Second))(ctx, t)
		return err
	}))
}

// click clicks the element sel finds once it is there and enabled. It clicks in the page, in
// one step, so that a re-render between finding and clicking cannot make it miss.
func (b *browser) click(sel string) {
	b.t.Helper()
	q := js(sel)
	b.wait("waiting for "+sel, fmt.Sprintf(`(() => { const el = document.querySelector(%s); if (!el || el.disabled) return false; el.click(); return true; })()`, q))
}

// fill sets a control's value, as typing would, once it is there.
func (b *browser) fill(sel, value string) {
	b.t.Helper()
	b.wait("filling "+sel, fmt.Sprintf(`(() => { const el = document.querySelector(%s); if (!el) return false; el.value = %s; el.dispatchEvent(new Event('input', {bubbles: true})); el.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`, js(sel), js(value)))
}

// sees waits until the element sel finds contains text.
func (b *browser) sees(sel, text string) {
	b.t.Helper()
	b.wait(fmt.Sprintf("waiting for %q in %s", text, sel), fmt.Sprintf(`[...document.querySelectorAll(%s)].some((el) => el.innerText.includes(%s))`, js(sel), js(text)))
}

func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("%s: screenshot %s: %v", b.name, name, err)
	}
	path := filepath.Join(b.shot, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("%s: saved %s", b.name, path)
}

// shotOf saves a screenshot of the element sel finds: the README's pictures.
func (b *browser) shotOf(name, sel string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.Screenshot(sel))
	if err != nil {
		b.t.Fatalf("%s: screenshot of %s: %v", b.name, sel, err)
	}
	path := filepath.Join(b.shot, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("%s: saved %s", b.name, path)
}

// usable checks what a person with a keyboard, a screen reader or a phone needs of the page
// as it is now: every control labelled, every button named, and nothing wider than the screen.
func (b *browser) usable(where string) {
	b.t.Helper()
	unlabelled := eval[[]string](b, `[...document.querySelectorAll('input, select, textarea')].filter((el) => el.type !== 'hidden' && !el.labels.length && !el.getAttribute('aria-label')).map((el) => el.outerHTML.slice(0, 80))`)
	if len(unlabelled) > 0 {
		b.t.Errorf("%s: %s: controls without a label: %v", b.name, where, unlabelled)
	}
	unnamed := eval[int](b, `[...document.querySelectorAll('button')].filter((el) => !el.textContent.trim() && !el.getAttribute('aria-label')).length`)
	if unnamed > 0 {
		b.t.Errorf("%s: %s: %d buttons without a name", b.name, where, unnamed)
	}
	if wide := eval[bool](b, `document.documentElement.scrollWidth > window.innerWidth + 1`); wide {
		b.t.Errorf("%s: %s: the page is wider than the window (%d px)", b.name, where, eval[int](b, `document.documentElement.scrollWidth`))
	}
}

func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// signIn imports the principal's identity file, as the command line exported it, and signs in.
func (b *browser) signIn(p *webtest.Person) {
	b.t.Helper()
	file := filepath.Join(b.t.TempDir(), strings.ReplaceAll(p.Handle, ":", "_")+".identity.age")
	if err := os.WriteFile(file, p.File, 0o600); err != nil {
		b.t.Fatal(err)
	}
	b.do("opening the web client", chromedp.Navigate(b.base+"/"), chromedp.WaitVisible(`body[data-ready="true"]`))
	b.t.Logf("%s: first screen ready %s ms after navigation began", b.name, eval[string](b, `document.body.dataset.readyMs`))
	b.do("importing the identity",
		chromedp.SetUploadFiles(`#import-file`, []string{file}),
		chromedp.SendKeys(`#import-pass`, webtest.Passphrase),
		chromedp.Click(`#import-go`))
	b.sees(`#me`, p.Handle)
	b.wait("the talks list", `!!document.querySelector('#talks-list')`)
}

// openTalks goes to the list of talks and opens id, checking for new talks until it is listed.
func (b *browser) openTalks(id string) {
	b.t.Helper()
	b.wait("the list of talks", `(() => { const back = document.querySelector('#back'); if (back) back.click(); return !!document.querySelector('#refresh-talks'); })()`)
	link := fmt.Sprintf(`a[data-talks=%s]`, js(id))
	for try := 0; ; try++ {
		if eval[bool](b, fmt.Sprintf(`(() => { const a = document.querySelector(%s); if (a) a.click(); return !!a; })()`, js(link))) {
			break
		}
		if try == 50 {
			b.t.Fatalf("%s: %s is never listed", b.name, id)
		}
		b.click(`#refresh-talks`)
		time.Sleep(200 * time.Millisecond)
	}
	b.sees(`#talks-title`, id)
}

func (b *browser) propose(id, kind, value, safety string) {
	b.t.Helper()
	b.wait("the propose form", `(() => { const d = document.querySelector('#propose-details'); if (!d) return false; d.open = true; return true; })()`)
	b.fill(`#motion-id`, id)
	b.fill(`#motion-kind`, kind)
	b.fill(`#motion-value`, value)
	b.fill(`#motion-safety`, safety)
	b.click(`#motion-go`)
	b.sees(fmt.Sprintf(`li[data-motion=%s]`, js(id)), "motion "+id)
}

// vote votes on a motion and waits until the page shows the vote taken: its buttons go once the
// organisation has voted. A vote refused leaves them, beside the refusal, and fails the test.
func (b *browser) vote(motion string, accept bool) {
	b.t.Helper()
	v := "refuse"
	if accept {
		v = "accept"
	}
	b.click(fmt.Sprintf(`li[data-motion=%s] button[data-vote=%s]`, js(motion), v))
	b.wait("the vote on "+motion+" taken", fmt.Sprintf(`!document.querySelector('li[data-motion=%s] button[data-vote]')`, js(motion)))
}

func (b *browser) outcome(motion, outcome string) {
	b.t.Helper()
	b.wait("motion "+motion+" "+outcome, fmt.Sprintf(`!!document.querySelector('li[data-motion=%s] [data-outcome=%s]')`, js(motion), js(outcome)))
}

// compose writes a message in a room of the page.
func (b *browser) compose(room, kind, topic, body string) {
	b.t.Helper()
	r := fmt.Sprintf(`section[data-room=%s]`, js(room))
	b.fill(r+` select[name=kind]`, kind)
	if topic != "" {
		b.fill(r+` select[name=topic]`, "*other")
		b.fill(r+` input[name=other-topic]`, topic)
	}
	b.fill(r+` textarea[name=body]`, body)
	b.click(r + ` button.send`)
}

// TestMuscatRound1InThreeBrowsers: three browser profiles (the US, Iran and Oman) play round 1
// of the Muscat scenario in the web client: the charter accepted with pinned roots, a refused
// format motion, the US message relayed verbatim and shown verified in Iran's room, a summary
// shown as Oman's, a message on a topic off the agenda refused with its rule, and Iran unable
// to reach the US room. Each page follows the talks live: no step reloads to see another's.
func TestMuscatRound1InThreeBrowsers(t *testing.T) {
	exe := chromium(t)
	host := webtest.StartHost(t)
	base := host.URL
	cast := webtest.NewCast(t, base, append(slices.Clone(webtest.Muscat), webtest.Member{Org: "us", Principal: "presidential-adviser", Title: "Presidential adviser", Rank: 2}))
	us := newBrowser(t, exe, base, "us", "America/New_York", "en-US")
	ir := newBrowser(t, exe, base, "ir", "Asia/Tehran", "fa-IR")
	om := newBrowser(t, exe, base, "om", "Asia/Muscat", "ar-OM")

	us.signIn(cast.People["us:special-envoy"])
	us.sees(`#log-safety`, " ")
	us.screenshot("1-home")
	us.usable("the list of talks")
	ir.signIn(cast.People["ir:foreign-minister"])
	om.signIn(cast.People["om:foreign-minister"])

	// The US proposes the talks, pinning both roots: Iran's by the safety number Iran read out.
	const id = "us:muscat"
	us.wait("the new-talks form", `(() => { const d = document.querySelector('#new-h').parentElement; d.open = true; return true; })()`)
	us.fill(`#new-id`, id)
	us.fill(`#new-parties`, "us, ir")
	us.fill(`#new-compared`, "ir "+cast.Safety("ir"))
	us.click(`#new-go`)
	us.sees(`#talks-status`, "proposed")

	// Iran accepts, typing the US safety number it compared; a wrong one is refused first.
	ir.openTalks(id)
	ir.sees(`#accept-form`, "has not accepted")
	ir.screenshot("2-accept-charter")
	ir.fill(`input[data-compare="us"]`, cast.Safety("om"))
	ir.click(`#accept-go`)
	ir.sees(`#accept-form .error`, "not the one you were given")
	ir.sees(`#alarm`, "do not trust")
	ir.click(`#alarm button`)
	ir.fill(`input[data-compare="us"]`, cast.Safety("us"))
	ir.click(`#accept-go`)
	ir.sees(`#talks-status`, "active")
	us.sees(`#talks-status`, "active") // live: the US page follows the talks

	// Oman is invited as mediator by Iran; the US and Oman accept.
	// A yes pins a root: the US compares Oman's, and Oman those of the talks it joins.
	ir.propose("m-oman", "invite-mediator", "om", cast.Safety("om"))
	us.fill(`input[data-vote-compare="om"]`, cast.Safety("om"))
	us.vote("m-oman", true)
	om.openTalks(id)
	om.fill(`input[data-vote-compare="us"]`, cast.Safety("us"))
	om.fill(`input[data-vote-compare="ir"]`, cast.Safety("ir"))
	om.vote("m-oman", true)
	om.outcome("m-oman", "passed")
	ir.outcome("m-oman", "passed")

	// The US asks for direct talks; Iran refuses: the motion is defeated, on every page.
	us.propose("m-direct", "set-format", "direct", "")
	ir.vote("m-direct", false)
	us.outcome("m-direct", "refused")
	us.sees(`#status`, "Motion m-direct refused")
	us.sees(`li[data-motion="m-direct"] .refused`, "ir")
	us.screenshot("3-motions")

	// The agenda, the venue and round 1.
	ir.propose("m-nuclear", "add-topic", "nuclear-programme", "")
	// Oman asks for a round before a venue is agreed: refused with the rule's words, which stay
	// beside the form while the page is drawn anew for what others do meanwhile.
	om.wait("the propose form", `(() => { const d = document.querySelector('#propose-details'); if (!d) return false; d.open = true; return true; })()`)
	om.fill(`#motion-id`, "m-round-early")
	om.fill(`#motion-kind`, "schedule-round")
	om.fill(`#motion-value`, time.Now().UTC().Format(time.RFC3339))
	om.click(`#motion-go`)
	om.sees(`form.propose .error`, "a round needs a venue")
	om.sees(`form.propose .error-rule[data-refused-by=host]`, "The host refused it")
	us.vote("m-nuclear", true)
	om.outcome("m-nuclear", "passed")
	om.sees(`form.propose .error`, "a round needs a venue")
	om.fill(`#motion-id`, "")
	om.propose("m-muscat", "set-venue", "Muscat", "")
	us.vote("m-muscat", true)
	ir.vote("m-muscat", true)
	// A round needs a venue: Oman proposes one when its own page shows the venue agreed.
	om.outcome("m-muscat", "passed")
	us.outcome("m-nuclear", "passed")
	om.propose("m-round-1", "schedule-round", time.Now().UTC().Format(time.RFC3339), "")
	us.vote("m-round-1", true)
	ir.vote("m-round-1", true)
	om.click(`button[data-open-round="1"]`)
	om.sees(`li[data-round="1"]`, "in-session")

	// The US writes to Oman in its room; Oman relays it word for word to Iran's room, where
	// Iran's page shows it verified under the US author's own signature.
	us.compose("caucus:us", "note", "nuclear-programme", "Written message of the United States delegation, round 1 in Muscat. (Its content was not made public.)")
	us.sees(`section[data-room="caucus:us"] .message`, "Written message of the United States")
	om.sees(`section[data-room="caucus:us"] .message`, "Written message of the United States")
	om.screenshot("4-mediator-rooms")
	om.usable("the mediator's rooms")
	// Iran is typing in its room meanwhile: the relay redraws its page, and the caret stays.
	ir.wait("typing in Iran's room", `(() => { const ta = document.querySelector('section[data-room="caucus:ir"] textarea[name=body]'); if (!ta) return false; ta.focus(); ta.value = 'draft'; ta.setSelectionRange(2, 2); return true; })()`)
	om.click(`section[data-room="caucus:us"] .message button[data-relay-to="caucus:ir"]`)
	ir.sees(`section[data-room="caucus:ir"] .message .prov.verbatim`, "Relayed word for word")
	ir.sees(`#status`, "New note in ir's room, from Special Envoy (us:special-envoy), relayed word for word by om:foreign-minister.")
	if got := eval[string](ir, `(() => { const ta = document.activeElement; return ta.name + ' ' + ta.value + ' ' + ta.selectionStart; })()`); got != "body draft 2" {
		t.Errorf("Iran's draft after the relay was drawn: %q, want the message box focused, holding \"draft\" with the caret at 2", got)
	}
	ir.fill(`section[data-room="caucus:ir"] textarea[name=body]`, "")
	ir.sees(`section[data-room="caucus:ir"] .message .prov.verbatim`, "Special Envoy (us:special-envoy)")
	ir.sees(`section[data-room="caucus:ir"] .message .prov.verbatim`, "the author\u2019s own signature verified")

	// Times are the reader's own: Iran's page shows Tehran's.
	ir.wait("times in Tehran's zone", `[...document.querySelectorAll('time')].some((t) => t.title.includes('GMT+0330'))`)

	// Every page's event stream is cut, as a lost connection would be: each resumes where it
	// stopped, and what follows arrives once.
	if n := host.DropStreams(); n < 3 {
		t.Fatalf("cut %d event streams, want one for each of the three pages", n)
	}
	for _, b := range []*browser{us, ir, om} {
		b.sees(`#status`, "resuming at event")
	}

	// Iran answers in Persian; its page lays the words out right to left.
	ir.compose("caucus:ir", "response", "nuclear-programme", "پاسخ کتبی هیئت ایران، دور نخست در مسقط.")
	ir.sees(`section[data-room="caucus:ir"] .message .body`, "پاسخ کتبی")
	if dir := eval[string](ir, `getComputedStyle([...document.querySelectorAll('section[data-room="caucus:ir"] .message .body')].pop()).direction`); dir != "rtl" {
		t.Errorf("Iran's Persian message is laid out %s, want rtl", dir)
	}
	ir.screenshot("5-iran-room")
	ir.shotOf("readme-iran-room", `section[data-room="caucus:ir"]`)

	// Oman sums Iran's answer up for the US in his own words; the US page shows it as Oman's.
	om.sees(`section[data-room="caucus:ir"] .message`, "پاسخ کتبی")
	if n := eval[int](om, `document.querySelectorAll('section[data-room="caucus:ir"] .message').length`); n != 2 {
		t.Errorf("Oman's page shows %d messages in Iran's room after the stream resumed, want 2", n)
	}
	om.wait("Iran's answer", `!![...document.querySelectorAll('section[data-room="caucus:ir"] .message')].find((m) => m.innerText.includes('پاسخ'))`)
	om.wait("summing up", `(() => { const m = [...document.querySelectorAll('section[data-room="caucus:ir"] .message')].find((m) => m.innerText.includes('پاسخ')); const b = m && m.querySelector('button[data-summarize-to="caucus:us"]'); if (!b) return false; b.click(); return true; })()`)
	om.sees(`section[data-room="caucus:us"] .summing`, "Summing up 1 message")
	om.fill(`section[data-room="caucus:us"] select[name=topic]`, "nuclear-programme")
	om.fill(`section[data-room="caucus:us"] textarea[name=body]`, "In the words of Oman's Foreign Minister: Iran's delegation has answered on the nuclear programme. (The content was not made public.)")
	om.click(`section[data-room="caucus:us"] button.send`)
	om.sees(`section[data-room="caucus:us"] .message .prov.summary`, "Summary by Foreign Minister (om:foreign-minister)")
	us.sees(`section[data-room="caucus:us"] .message .prov.summary`, "Summary by Foreign Minister (om:foreign-minister)")
	us.screenshot("6-us-room-summary")
	om.shotOf("readme-mediator-rooms", `.rooms-section`)

	// A message on missiles, off the agenda, is refused with the rule's words.
	us.compose("caucus:us", "note", "missiles", "The United States wants missiles, drones and regional influence on the table.")
	us.sees(`section[data-room="caucus:us"] .error`, "messages and statements keep to the agreed agenda")
	us.sees(`section[data-room="caucus:us"] .error-rule[data-refused-by=host]`, "The host refused it")
	us.screenshot("7-refused-off-agenda")
	us.usable("the talks on a laptop")

	// At the end of round 1 the heads of delegation agree to a short courtesy exchange: a direct
	// session opened with both parties' consent and closed minutes later, by Iran. The plenary's
	// words stay on every page that read them, marked closed.
	us.propose("m-courtesy", "open-session", time.Now().Add(15*time.Minute).UTC().Format(time.RFC3339), "")
	ir.vote("m-courtesy", true)
	us.sees(`#direct-session`, "A direct session is open")
	us.compose("plenary", "note", "", "A short face-to-face courtesy exchange between the heads of delegation.")
	ir.sees(`section[data-room="plenary"] .message`, "courtesy exchange")
	om.sees(`section[data-room="plenary"] .message`, "courtesy exchange")
	ir.click(`#close-session`)
	for _, b := range []*browser{us, ir, om} {
		b.sees(`section[data-room="plenary"][data-closed="true"] .message`, "courtesy exchange")
		if n := eval[int](b, `document.querySelectorAll('section[data-room="plenary"] textarea, #direct-session').length`); n != 0 {
			t.Errorf("%s: the closed plenary still offers a box to write in, or the session is shown open", b.name)
		}
	}
	om.screenshot("11-direct-session-closed")

	// On a phone's screen, the rooms stack and nothing runs off the side.
	ir.do("a phone's screen", chromedp.EmulateViewport(390, 844))
	ir.usable("the talks on a phone")
	ir.screenshot("10-phone")
	ir.do("back to a laptop's screen", chromedp.EmulateViewport(1366, 900))

	// Iran's page has no US room, and its client cannot reach it: the engine refuses by rule,
	// and the host would not take it.
	if n := eval[int](ir, `document.querySelectorAll('section[data-room="caucus:us"]').length`); n != 0 {
		t.Errorf("Iran's page shows the US room")
	}
	refusal := eval[string](ir, `backchannel.call('send', JSON.stringify({talks: 'us:muscat', room: 'caucus:us', kind: 'note', topics: ['nuclear-programme'], body: 'To the US room.'})).then(() => 'sent', (e) => e)`)
	if !strings.Contains(refusal, `"problem":"not-in-room"`) {
		t.Errorf("Iran writing to the US room: %s, want refused not-in-room", refusal)
	}

	// The US delegation adds its presidential adviser, by name, from the page.
	us.fill(`#member-name`, "presidential-adviser")
	us.click(`#member-add`)
	us.sees(`#delegation`, "Presidential adviser (us:presidential-adviser), rank 2")
	us.sees(`#delegation button[data-remove-member="us:presidential-adviser"]`, "Take us:presidential-adviser out")
	us.wait("the name box emptied once the adviser is added", `document.getElementById('member-name').value === ''`)

	// The record: verified in the browser, and its export downloads.
	us.sees(`#record-verified`, "Verified by this browser")
	us.screenshot("8-record")

	// No page raised an alarm along the way (Iran's, for the wrong safety number, was
	// dismissed): the host behaved, and a page acting while it re-reads is no reason for one.
	for _, b := range []*browser{us, ir, om} {
		if text := eval[string](b, `document.getElementById('alarm').hidden ? '' : document.getElementById('alarm').innerText`); text != "" {
			t.Errorf("%s: the page raised an alarm: %s", b.name, text)
		}
	}

	// Back at the list of talks, the US page follows them no more: the host holds one stream
	// fewer.
	streams := host.Streams()
	us.click(`#back`)
	us.sees(`#talks-list`, id)
	for deadline := time.Now().Add(time.Minute); host.Streams() != streams-1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the host holds %d event streams after the US page left the talks, want %d", host.Streams(), streams-1)
		}
	}

	// What a first visit downloaded, compressed, as the browser counted it.
	size := eval[float64](us, `performance.getEntriesByType('resource').concat(performance.getEntriesByType('navigation')).reduce((n, e) => n + (e.transferSize || 0), 0)`)
	t.Logf("the US profile's visit transferred %.0f bytes in all", size)
}

// TestALogKeyChangeIsALoudWarning: a browser that pinned a host's log key at its first sign-in
// refuses that host's later key, and says so loudly at the top of the page.
func TestALogKeyChangeIsALoudWarning(t *testing.T) {
	exe := chromium(t)
	base := webtest.Host(t)
	cast := webtest.NewCast(t, base, webtest.Muscat[:1])
	us := newBrowser(t, exe, base, "us", "UTC", "en-GB")
	p := cast.People["us:special-envoy"]
	us.signIn(p)
	// As if the host had presented another key at the first sign-in: what a stand-in shows.
	key := "backchannel/" + base + "/" + p.Handle + "/log-key"
	eval[bool](us, fmt.Sprintf(`(localStorage.setItem(%s, 'other.example+00000000+AZD5CFeb5zi6hrEXqlYNN5ttlPv7LeH8eVcKjMAeP1Mj'), true)`, js(key)))
	us.click(`#sign-out`)
	// Signed in again from the keyboard alone: the passphrase typed, then Enter.
	us.do("signing in from the keyboard", chromedp.WaitVisible(`#signin-pass`), chromedp.SendKeys(`#signin-pass`, webtest.Passphrase+kb.Enter))
	us.sees(`#alarm`, "do not trust what this host shows")
	us.sees(`#alarm`, "another log key")
	if hidden := eval[bool](us, `document.getElementById('alarm').hidden`); hidden {
		t.Error("the warning is hidden")
	}
	us.screenshot("9-log-key-changed")
}

// TestAJointStatementIsSignedFromThePage: the US publishes a joint statement on a closed round
// (through its own engine, as another browser would); Iran's page shows it waiting for Iran,
// signs the same words in one click, and then shows it signed by every party.
func TestAJointStatementIsSignedFromThePage(t *testing.T) {
	exe := chromium(t)
	host := webtest.StartHost(t)
	cast := webtest.NewCast(t, host.URL, webtest.Muscat[:2])
	ctx := context.Background()
	us, err := session.Open(host.URL, cast.People["us:special-envoy"].File, webtest.Passphrase, &session.MapStorage{}, session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(us.Close)
	if _, err := us.Login(ctx); err != nil {
		t.Fatal(err)
	}
	const id = "us:doha"
	call := func(method string, args map[string]any) {
		t.Helper()
		args["talks"] = id
		b, _ := json.Marshal(args)
		if _, err := us.Call(ctx, method, b); err != nil {
			t.Fatalf("the US %s: %v", method, err)
		}
	}
	call("create", map[string]any{"parties": []string{"us", "ir"}, "format": "direct", "visibility": "public", "compared": map[string]string{"ir": cast.Safety("ir")}})

	ir := newBrowser(t, exe, host.URL, "ir", "Asia/Tehran", "fa-IR")
	ir.signIn(cast.People["ir:foreign-minister"])
	ir.openTalks(id)
	ir.fill(`input[data-compare="us"]`, cast.Safety("us"))
	ir.click(`#accept-go`)
	ir.sees(`#talks-status`, "active")
	call("propose", map[string]any{"motion": "m-venue", "change": map[string]any{"kind": "set-venue", "value": "Doha"}})
	ir.vote("m-venue", true)
	call("propose", map[string]any{"motion": "m-round", "change": map[string]any{"kind": "schedule-round", "value": time.Now().UTC().Format(time.RFC3339)}})
	ir.vote("m-round", true)
	ir.click(`button[data-open-round="1"]`) // a party opens the round, as the rules let it
	ir.click(`button[data-close-round="1"]`)
	ir.sees(`li[data-round="1"]`, "closed")

	call("statement", map[string]any{"round": 1, "text": "Both delegations call the talks constructive.", "joint": true})
	ir.sees(`#statements`, "joint, waiting for every party to sign")
	ir.click(`button[data-cosign="0"]`)
	ir.sees(`#statements`, "joint, signed by every party")
	ir.sees(`#statements`, "signed by us:special-envoy, ir:foreign-minister")
	if n := eval[int](ir, `document.querySelectorAll('button[data-cosign]').length`); n != 0 {
		t.Errorf("the page still offers to sign a statement Iran signed")
	}
}
