/* `ephport top` on a terminal, drawn with ncurses: the frame of top.c,
 * the title line in bold, the column titles in reverse video with the
 * sorted column underlined, and keys to sort and to switch views.  The
 * terminal is restored on q, on SIGINT/SIGTERM/SIGHUP and on errors. */
#include <curses.h>
#include <math.h>
#include <string.h>

#include "top.h"

static void draw(struct top_state *st, bool help)
{
	struct top_lines out = {0};
	int rows = LINES, cols = COLS;
	size_t maxrows = rows > 7 ? (size_t)rows - 7 : 1;

	top_render(st, &out, maxrows, (unsigned)(cols > 0 ? cols : 80));
	erase();
	for (size_t i = 0; i < out.n && (int)i < rows - (help ? 1 : 0); i++) {
		if (i == 0)
			attron(A_BOLD);
		if (i == out.nhead)
			attron(A_REVERSE);
		mvaddstr((int)i, 0, out.l[i]);
		if (i == out.nhead) {
			/* pad the title bar to the full width, mark the sort column */
			for (int c = (int)strlen(out.l[i]); c < cols; c++)
				addch(' ');
			mvchgat((int)i, (int)out.sort_from, (int)(out.sort_to - out.sort_from),
			        A_REVERSE | A_UNDERLINE | A_BOLD, 0, NULL);
			attroff(A_REVERSE);
		}
		if (i == 0)
			attroff(A_BOLD);
	}
	if (help)
		mvaddnstr(rows - 1, 0, "q quit  d/p/Tab view  c e 5 9 t x n sort  < > column  "
		          "r reverse  space refresh  h help", cols);
	top_lines_free(&out);
	refresh();
}

static bool key(struct top_state *st, int ch, bool *help, bool *now)
{
	static const int sort_keys[][2] = {
		{'c', TC_CALLS}, {'e', TC_ERRORS}, {'5', TC_P50}, {'9', TC_P99},
		{'t', TC_TRIES}, {'x', TC_COLL}, {'n', TC_NAME},
	};

	switch (ch) {
	case 'q': case 'Q': return false;
	case 'd': st->o.view = VIEW_DST; break;
	case 'p': case 'P': st->o.view = VIEW_PROC; break;
	case 's': case 'S': st->o.view = VIEW_SRC; break;
	case '\t': st->o.view = (enum top_view)((st->o.view + 1) % VIEW_COUNT); break;
	case '<': if (st->o.sort > 0) st->o.sort--; break;
	case '>': if (st->o.sort + 1 < TC_COUNT) st->o.sort++; break;
	case 'r': case 'R': st->reverse = !st->reverse; break;
	case 'h': case '?': *help = !*help; break;
	case ' ': *now = true; break;
	default:
		for (size_t i = 0; i < sizeof(sort_keys) / sizeof(sort_keys[0]); i++)
			if (ch == sort_keys[i][0])
				st->o.sort = (enum top_col)sort_keys[i][1];
		break;
	}
	return true;
}

int top_tty(struct top_state *st)
{
	bool help = true, running = true;
	double last = top_mono(), next = last + st->o.delay;

	if (!initscr()) {
		fprintf(stderr, "ephport top: cannot set up the terminal\n");
		return 1;
	}
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	curs_set(0);
	draw(st, help);
	while (running && !top_stop_signal()) {
		double now = top_mono();
		bool tick = now >= next;
		if (!tick) {
			int ms = (int)ceil((next - now) * 1000);
			timeout(ms > 200 ? 200 : ms);
			int ch = getch();
			if (ch == ERR)
				continue;
			if (ch == KEY_RESIZE) {
				draw(st, help);
				continue;
			}
			running = key(st, ch, &help, &tick);
			if (!running)
				break;
			top_sort(st);
			if (!tick) {
				draw(st, help);
				continue;
			}
			now = top_mono();
		}
		top_tick(st, now - last);
		last = now;
		next = now + st->o.delay;
		draw(st, help);
		if (st->o.iterations && st->frames >= st->o.iterations)
			break;
	}
	endwin();
	return 0;
}
