// The gallery's grid: fetches its pictures page by page from /api/gallery/page and keeps them
// in the browser. The page's Reflex state only says which pictures to ask for (`src`, with the
// sort and filters), which ones are selected, deleted or re-favourited since; a scrolled page
// costs one small JSON reply, the same at any depth. Opening, revealing and selecting a
// picture go back to the state as events (onOpen, onReveal, onToggle).
import { createElement as h, memo, useCallback, useEffect, useMemo, useRef, useState } from "react";

// Ask for the next page while the "Load more" button is still this far below the screen.
const AHEAD = "600px";
const STYLE_ID = "photoai-gallery-grid-style";
const CSS = `
.photoai-grid { display: grid; gap: var(--space-3); width: 100%;
  grid-template-columns: repeat(2, minmax(0, 1fr)); }
@media (min-width: 520px) { .photoai-grid { grid-template-columns: repeat(3, minmax(0, 1fr)); } }
@media (min-width: 768px) { .photoai-grid { grid-template-columns: repeat(4, minmax(0, 1fr)); } }
@media (min-width: 1024px) { .photoai-grid { grid-template-columns: repeat(6, minmax(0, 1fr)); } }
.photoai-pages { display: flex; flex-direction: column; gap: var(--space-3); width: 100%; }
.photoai-chunk { content-visibility: auto; contain-intrinsic-size: auto 1600px; }
.photoai-tile { position: relative; border-radius: var(--radius-3); }
.photoai-tile[data-selected="yes"] { outline: 3px solid var(--accent-9); outline-offset: -3px; }
.photoai-open { display: block; width: 100%; padding: 0; border: 0; background: none;
  cursor: zoom-in; border-radius: var(--radius-3); }
.photoai-open:focus-visible { outline: 3px solid var(--accent-8); outline-offset: -3px; }
.photoai-open img { display: block; width: 100%; aspect-ratio: 1; object-fit: cover;
  border-radius: var(--radius-3); background: var(--gray-3); }
.photoai-hidden { display: flex; flex-direction: column; align-items: center; justify-content: center;
  gap: var(--space-1); aspect-ratio: 1; padding: 0.5em; text-align: center;
  background: var(--gray-4); border-radius: var(--radius-3); font-size: var(--font-size-1); }
.photoai-select { position: absolute; top: 8px; left: 8px; width: 22px; height: 22px; margin: 0;
  accent-color: var(--accent-9); cursor: pointer; }
.photoai-heart { position: absolute; top: 6px; right: 8px; color: crimson; font-size: 20px;
  line-height: 1; text-shadow: 0 0 3px white; }
.photoai-likeness { position: absolute; bottom: 6px; left: 6px; padding: 1px 6px;
  border-radius: var(--radius-2); font-size: var(--font-size-1); color: var(--gray-12);
  background: var(--color-panel-solid); }
.photoai-more { display: flex; justify-content: center; width: 100%; padding: var(--space-3) 0; }
.photoai-empty { display: flex; flex-direction: column; align-items: center; gap: var(--space-3);
  padding: 2em; width: 100%; border: 1px solid var(--gray-6); border-radius: var(--radius-4); }
.photoai-error { color: var(--red-11); }
`;

function useGridStyle() {
  useEffect(() => {
    if (document.getElementById(STYLE_ID)) return;
    const style = document.createElement("style");
    style.id = STYLE_ID;
    style.textContent = CSS;
    document.head.appendChild(style);
  }, []);
}

const BUTTON = "rt-reset rt-BaseButton rt-r-size-2 rt-variant-soft rt-Button";

// Memoised, with callbacks that keep their identity: appending a page or selecting a picture
// re-renders only the tiles that changed, not every tile already on the page.
const Tile = memo(function Tile({ item, selected, favourite, onOpen, onReveal, onToggle }) {
  const picture = item.thumb
    ? h(
        "button",
        { type: "button", className: "photoai-open", onClick: () => onOpen(item.id) },
        h("img", { src: item.thumb, alt: item.alt, loading: "lazy" }),
      )
    : h(
        "div",
        { className: "photoai-hidden" },
        h("span", null, "Hidden: flagged by the safety check"),
        h(
          "button",
          {
            type: "button",
            className: "rt-reset rt-BaseButton rt-r-size-1 rt-variant-soft rt-Button",
            onClick: () => onReveal(item.id),
          },
          "Show",
        ),
      );
  return h(
    "div",
    {
      className: "photoai-tile",
      "data-testid": "gallery-tile",
      "data-selected": selected ? "yes" : "no",
    },
    picture,
    h("input", {
      type: "checkbox",
      className: "photoai-select",
      checked: selected,
      onChange: () => onToggle(item.id),
      "aria-label": `Select: ${item.alt}`,
    }),
    favourite
      ? h("span", { className: "photoai-heart", role: "img", "aria-label": "Favourite" }, "\u2665")
      : null,
    item.likeness
      ? h("span", { className: "photoai-likeness", "data-testid": "tile-likeness" }, item.likeness)
      : null,
  );
});

// The tiles in blocks of one page each, every block its own grid (96 or 48 fill whole rows at
// 2, 3, 4 and 6 columns). A block off screen is skipped by layout and paint (content-visibility),
// and a block whose pictures and marks did not change is not re-rendered: appending page 100
// costs about what appending page 2 does, though every tile stays in the page.
const Chunk = memo(
  function Chunk({ items, picked, marks, onOpen, onReveal, onToggle }) {
    return h(
      "div",
      { className: "photoai-grid photoai-chunk" },
      items.map((item) =>
        h(Tile, {
          key: item.id,
          item,
          selected: picked.has(item.id),
          favourite: item.id in marks ? marks[item.id] : item.favourite,
          onOpen,
          onReveal,
          onToggle,
        }),
      ),
    );
  },
  (before, after) =>
    before.marksKey === after.marksKey &&
    before.items.length === after.items.length &&
    before.items.every((item, i) => item === after.items[i]),
);

function marksKey(items, picked, marks) {
  return items
    .map((item) => `${picked.has(item.id) ? "s" : ""}${item.id in marks ? marks[item.id] : ""}`)
    .join(",");
}

export function GalleryGrid({
  src,
  reload,
  selected,
  removed,
  favourites,
  onOpen,
  onReveal,
  onToggle,
}) {
  useGridStyle();
  const [items, setItems] = useState([]);
  const [next, setNext] = useState(null);
  const [loading, setLoading] = useState(false);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState("");
  // Bumped whenever the list starts over, so a reply to an older request is dropped.
  const generation = useRef(0);
  const busy = useRef(false);
  const moreButton = useRef(null);
  const handlers = useRef({});
  handlers.current = { onOpen, onReveal, onToggle };
  const open = useCallback((id) => handlers.current.onOpen(id), []);
  const reveal = useCallback((id) => handlers.current.onReveal(id), []);
  const toggle = useCallback((id) => handlers.current.onToggle(id), []);

  // The page after the shown ones, asked for as soon as the shown ones arrived: by the time
  // the reader reaches the bottom it is usually here already. {cursor, reply} or null.
  const ahead = useRef(null);

  // The page size is the operator's setting, carried in src: the tiles are grouped by it.
  const pageSize = useMemo(
    () => Number(new URLSearchParams(src.split("?")[1] || "").get("limit")) || 48,
    [src],
  );

  const request = useCallback(
    async (cursor) => {
      const params = new URLSearchParams();
      if (cursor) params.set("cursor", cursor);
      try {
        const reply = await fetch(`${src}${src.includes("?") ? "&" : "?"}${params}`, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
          // Ahead of the thumbnails queued for the same server.
          priority: "high",
        });
        const body = await reply.json();
        return reply.ok ? { body } : { error: body.error || "Could not load your pictures." };
      } catch (exc) {
        return { error: "Could not load your pictures. Check your connection and try again." };
      }
    },
    [src],
  );

  const show = useCallback(
    async (cursor, gen) => {
      busy.current = true;
      setLoading(true);
      const early = ahead.current;
      ahead.current = null;
      const result = await (early && early.cursor === cursor ? early.reply : request(cursor));
      if (gen !== generation.current) return;
      if (result.error) {
        setError(result.error);
        if (!cursor) setNext(null);
      } else {
        setItems((shown) => (cursor ? shown.concat(result.body.items) : result.body.items));
        setNext(result.body.next);
        setError("");
        if (result.body.next) {
          ahead.current = { cursor: result.body.next, reply: request(result.body.next) };
        }
      }
      busy.current = false;
      setLoading(false);
      setLoaded(true);
    },
    [request],
  );

  useEffect(() => {
    generation.current += 1;
    busy.current = false;
    ahead.current = null;
    setItems([]);
    setNext(null);
    setLoaded(false);
    show(null, generation.current);
  }, [src, reload, show]);

  const loadMore = useCallback(() => {
    if (!busy.current && next) show(next, generation.current);
  }, [next, show]);

  // A fresh observer after each page: it reports at once if the button is still near the
  // screen (a short page), so scrolling never stalls waiting for an intersection change. It
  // loads only once the reader has scrolled (or cannot scroll at all): a layout shift at the
  // top of the page, such as a dialog locking the scroll, is not a request for more.
  useEffect(() => {
    const button = moreButton.current;
    if (!button || !next || loading) return undefined;
    const watcher = new IntersectionObserver(
      (entries) => {
        const page = document.documentElement;
        const scrolled = window.scrollY > 0 || page.scrollHeight <= window.innerHeight;
        if (scrolled && entries.some((e) => e.isIntersecting)) loadMore();
      },
      { rootMargin: AHEAD },
    );
    watcher.observe(button);
    return () => watcher.disconnect();
  }, [next, loading, loadMore]);

  const chunks = useMemo(() => {
    const gone = new Set(removed || []);
    const picked = new Set(selected || []);
    const marks = favourites || {};
    const shown = items.filter((item) => !gone.has(item.id));
    const blocks = [];
    for (let start = 0; start < shown.length; start += pageSize) {
      const part = shown.slice(start, start + pageSize);
      blocks.push(
        h(Chunk, {
          key: part[0].id,
          items: part,
          picked,
          marks,
          marksKey: marksKey(part, picked, marks),
          onOpen: open,
          onReveal: reveal,
          onToggle: toggle,
        }),
      );
    }
    return blocks;
  }, [items, removed, selected, favourites, open, reveal, toggle, pageSize]);

  const children = [];
  if (error) {
    children.push(h("p", { key: "error", className: "photoai-error", role: "alert" }, error));
  }
  if (chunks.length > 0) {
    children.push(
      h(
        "div",
        { key: "grid", className: "photoai-pages", id: "gallery-grid", "aria-busy": loading },
        chunks,
      ),
    );
  } else if (loaded && !next && !error) {
    children.push(
      h(
        "div",
        { key: "empty", className: "photoai-empty" },
        h("p", null, "No pictures here yet."),
        h("a", { href: "/generate", className: BUTTON }, "Generate some"),
      ),
    );
  }
  if (next) {
    children.push(
      h(
        "div",
        { key: "more", className: "photoai-more" },
        h(
          "button",
          {
            type: "button",
            id: "load-more",
            ref: moreButton,
            className: BUTTON,
            onClick: loadMore,
            disabled: loading,
          },
          loading ? "Loading\u2026" : "Load more",
        ),
      ),
    );
  }
  return h("div", { style: { width: "100%" } }, children);
}
