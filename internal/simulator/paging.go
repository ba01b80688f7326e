package simulator

import (
	"net/url"
	"strconv"
	"strings"
)

// pager is the view of a list's pagination bar.
type pager struct {
	Page, Pages int
	PrevURL     string
	NextURL     string
}

// paginate clamps the requested page into range and returns the slice bounds
// of that page and the links to its neighbours, which keep the search query
// and the updated_since filter.
func paginate(total, size int, r url.Values, base string) (start, end int, p pager) {
	pages := max(1, (total+size-1)/size)
	page, err := strconv.Atoi(r.Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	page = min(page, pages)
	start = (page - 1) * size
	end = min(start+size, total)
	link := func(n int) string {
		v := url.Values{}
		for _, k := range []string{"q", "updated_since"} {
			if q := strings.TrimSpace(r.Get(k)); q != "" {
				v.Set(k, q)
			}
		}
		v.Set("page", strconv.Itoa(n))
		return base + "?" + v.Encode()
	}
	p = pager{Page: page, Pages: pages}
	if page > 1 {
		p.PrevURL = link(page - 1)
	}
	if page < pages {
		p.NextURL = link(page + 1)
	}
	return start, end, p
}
