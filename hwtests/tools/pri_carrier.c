/*
 * pri_carrier: libpri as a carrier's exchange for trunkd's system test
 * (hwtests/tests/trunkd.rs). It is the isdn crate's pri_harness
 * (crates/isdn/tests/libpri/pri_harness.c) with two changes: the network
 * side places the call given by -d too (a carrier offering a call to the
 * box), and -a sets how long an answered call is held before libpri hangs
 * up with normal clearing (the harness: 1 s).
 *
 * From the harness:
 *
 *   pri_harness -m net|cpe -s PATH [-l | -c] [-d CALLED] [-t SECONDS] [-q]
 *     -m net   libpri is the network side (default)     -m cpe  user side
 *     -l       listen on PATH (default)                  -c      connect to PATH
 *     -d NUM   (cpe) place a call to NUM when the D-channel is up, hang up 1 s after CONNECT
 *     -t SEC   exit after SEC seconds (default 20)
 *     -q       no libpri Q.921/Q.931 decode, only frame hex + events
 *
 * Wire format on PATH: one SEQPACKET message == one LAPD frame exactly as
 * libpri hands it over: address(2) + control(1|2) + [Q.931 payload] + 2
 * trailing FCS placeholder bytes (libpri writes len+2 and strips 2 on receive;
 * the FCS is NOT computed, a DAHDI HDLC channel would normally compute/check it).
 */
#include <libpri.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int sp[2];          /* sp[0]: libpri side, sp[1]: bridge side */
static int peer = -1;      /* connected external process */
static int quiet;

static double now_s(void) { struct timeval tv; gettimeofday(&tv, NULL); return tv.tv_sec + tv.tv_usec / 1e6; }
static double t0;

static void hexdump(const char *tag, const unsigned char *b, int n)
{
	printf("[%7.3f] %s %3d:", now_s() - t0, tag, n);
	for (int i = 0; i < n; i++) printf(" %02x", b[i]);
	printf("\n");
	fflush(stdout);
}

static int rd_cb(struct pri *pri, void *buf, int len) { (void)pri; int r = read(sp[0], buf, len); return r < 0 ? 0 : r; }
static int wr_cb(struct pri *pri, void *buf, int len) { (void)pri; return write(sp[0], buf, len); }
static void pri_msg(struct pri *pri, char *s) { (void)pri; if (!quiet) { printf("  libpri: %s", s); fflush(stdout); } }
static void pri_err(struct pri *pri, char *s) { (void)pri; printf("  libpri ERROR: %s", s); fflush(stdout); }

int main(int argc, char **argv)
{
	int net = 1, do_listen = 1, secs = 20, opt;
	const char *path = "/tmp/peers/libpri/pri.sock", *dial = NULL;
	double hold = 1.0;
	while ((opt = getopt(argc, argv, "m:s:lcd:t:qa:")) != -1) {
		switch (opt) {
		case 'm': net = strcmp(optarg, "cpe") != 0; break;
		case 's': path = optarg; break;
		case 'l': do_listen = 1; break;
		case 'c': do_listen = 0; break;
		case 'd': dial = optarg; break;
		case 't': secs = atoi(optarg); break;
		case 'q': quiet = 1; break;
		case 'a': hold = atof(optarg); break;
		default: fprintf(stderr, "usage: see source\n"); return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	t0 = now_s();
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp)) { perror("socketpair"); return 1; }

	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strncpy(sa.sun_path, path, sizeof(sa.sun_path) - 1);
	int lfd = -1;
	if (do_listen) {
		unlink(path);
		lfd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
		if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 1)) { perror("bind/listen"); return 1; }
		printf("listening on %s (SOCK_SEQPACKET)\n", path);
	} else {
		peer = socket(AF_UNIX, SOCK_SEQPACKET, 0);
		if (connect(peer, (struct sockaddr *)&sa, sizeof(sa))) { perror("connect"); return 1; }
		printf("connected to %s\n", path);
	}

	pri_set_message(pri_msg);
	pri_set_error(pri_err);
	struct pri *pri = pri_new_cb(sp[0], net ? PRI_NETWORK : PRI_CPE, PRI_SWITCH_EUROISDN_E1, rd_cb, wr_cb, NULL);
	if (!pri) { fprintf(stderr, "pri_new_cb failed\n"); return 1; }
	if (!quiet)
		pri_set_debug(pri, PRI_DEBUG_Q921_STATE | PRI_DEBUG_Q931_DUMP | PRI_DEBUG_Q931_STATE);
	printf("libpri %s side, EuroISDN E1, started\n", net ? "NETWORK" : "CPE");
	fflush(stdout);

	q931_call *call = NULL;
	double hangup_at = 0, dial_at = 0;
	int dialed = 0;
	unsigned char buf[1100];

	while (now_s() - t0 < secs) {
		struct pollfd p[4];
		int n = 0, ip_sp0, ip_sp1, ip_peer = -1, ip_l = -1;
		p[n].fd = sp[0]; p[n].events = POLLIN; ip_sp0 = n++;
		p[n].fd = sp[1]; p[n].events = POLLIN; ip_sp1 = n++;
		if (peer >= 0) { p[n].fd = peer; p[n].events = POLLIN; ip_peer = n++; }
		else if (lfd >= 0) { p[n].fd = lfd; p[n].events = POLLIN; ip_l = n++; }

		int tmo = 200;
		struct timeval *tv = pri_schedule_next(pri);
		if (tv) {
			struct timeval cur; gettimeofday(&cur, NULL);
			long ms = (tv->tv_sec - cur.tv_sec) * 1000 + (tv->tv_usec - cur.tv_usec) / 1000;
			if (ms < 0) ms = 0;
			if (ms < tmo) tmo = ms;
		}
		if (poll(p, n, tmo) < 0 && errno != EINTR) { perror("poll"); break; }

		if (ip_l >= 0 && (p[ip_l].revents & POLLIN)) {
			peer = accept(lfd, NULL, NULL);
			printf("[%7.3f] peer connected\n", now_s() - t0);
		}
		if (p[ip_sp1].revents & POLLIN) {            /* libpri -> outside */
			int r = read(sp[1], buf, sizeof(buf));
			if (r > 0) {
				hexdump(peer >= 0 ? "TX" : "TX(no peer, dropped)", buf, r);
				if (peer >= 0 && write(peer, buf, r) < 0) { printf("peer write failed\n"); close(peer); peer = -1; }
			}
		}
		if (ip_peer >= 0 && (p[ip_peer].revents & (POLLIN | POLLHUP))) {  /* outside -> libpri */
			int r = read(peer, buf, sizeof(buf));
			if (r <= 0) { printf("[%7.3f] peer disconnected\n", now_s() - t0); close(peer); peer = -1; }
			else { hexdump("RX", buf, r); if (write(sp[1], buf, r) < 0) perror("write sp1"); }
		}

		pri_event *e = NULL, fake;
		if (p[ip_sp0].revents & POLLIN) e = pri_check_event(pri);
		else e = pri_schedule_run(pri);
		if (!e && dial_at && now_s() >= dial_at) { dial_at = 0; fake.e = -1; e = &fake; }
		if (e) {
			if (e->e >= 0) printf("[%7.3f] EVENT %s\n", now_s() - t0, pri_event2str(e->e));
			switch (e->e) {
			case PRI_EVENT_DCHAN_UP:
				if (dial && !dialed)
					dial_at = now_s() + 1.5;   /* let a SABME collision settle first */
				break;
			case -1:
				{
					call = pri_new_call(pri);
					struct pri_sr *sr = pri_sr_new();
					pri_sr_set_channel(sr, 1, 1, 0);
					pri_sr_set_bearer(sr, PRI_TRANS_CAP_SPEECH, PRI_LAYER_1_ALAW);
					pri_sr_set_called(sr, (char *)dial, PRI_UNKNOWN, 1);
					pri_sr_set_caller(sr, "2000", "harness", PRI_UNKNOWN, PRES_ALLOWED_USER_NUMBER_NOT_SCREENED);
					printf("  -> SETUP to %s: %d\n", dial, pri_setup(pri, call, sr));
					pri_sr_free(sr);
					dialed = 1;
				}
				break;
			case PRI_EVENT_RING:
				printf("  RING chan=%d calling=%s called=%s\n", e->ring.channel, e->ring.callingnum, e->ring.callednum);
				call = e->ring.call;
				pri_proceeding(pri, call, e->ring.channel, 0);
				pri_acknowledge(pri, call, e->ring.channel, 0);   /* ALERTING */
				pri_answer(pri, call, e->ring.channel, 0);        /* CONNECT */
				break;
			case PRI_EVENT_ANSWER:
				hangup_at = now_s() + hold;
				break;
			case PRI_EVENT_HANGUP_REQ:
			case PRI_EVENT_HANGUP:
				printf("  cause=%d\n", e->hangup.cause);
				pri_hangup(pri, e->hangup.call, e->hangup.cause);
				break;
			case PRI_EVENT_HANGUP_ACK:
				break;
			}
			fflush(stdout);
		}
		if (hangup_at && now_s() >= hangup_at && call) {
			printf("[%7.3f]  -> hangup (normal clearing)\n", now_s() - t0);
			pri_hangup(pri, call, PRI_CAUSE_NORMAL_CLEARING);
			hangup_at = 0;
		}
	}
	printf("[%7.3f] time limit reached, exiting\n", now_s() - t0);
	if (do_listen) unlink(path);
	return 0;
}
