# The charts of BENCHMARKS.md; run by bench/plot.sh, which prepares the data
# in `tmp` and passes `res` (where the PNGs go), `run` (the run's caption)
# and `lat_modes`.

# Okabe-Ito: apart for most colour-blind readers, and in grey print by
# lightness.
array C[5] = ["#000000", "#0072B2", "#009E73", "#E69F00", "#D55E00"]
set terminal pngcairo size 1000,620 font ",11" noenhanced
set grid xtics ytics mxtics mytics lc rgb "#dddddd"
set key bottom left box opaque

# --- tail-<kind>.png: CCDF, log-log --------------------------------------
do for [kind in "hugetlb shmem"] {
	f = sprintf("%s/%s-native.ccdf", tmp, kind)
	if (system(sprintf("test -s %s && echo 1 || echo 0", f)) + 0) {
		set output sprintf("%s/tail-%s.png", res, kind)
		set title sprintf("First-touch latency, %s pages: fraction of touches slower than x\n%s", \
			kind eq "hugetlb" ? "2 MiB hugetlb" : "4 KiB shmem", run)
		set xlabel "latency of one first touch (us, log scale)"
		set ylabel "fraction slower (log scale)"
		set logscale xy
		set xrange [0.5:*]
		set yrange [kind eq "hugetlb" ? 1e-3 : 1e-4 : 1.2]
		set format y "10^{%T}"
		set format y "%g"
		plot for [i = 1:words(lat_modes)] sprintf("%s/%s-%s.ccdf", tmp, kind, word(lat_modes, i)) \
			using 1:2 with steps lw 2.5 lc rgb C[i] title word(lat_modes, i)
		unset logscale
		unset format
		set format y "%g"
		set xrange [*:*]
		set yrange [*:*]
	}
}

# --- median-p99.png: bars, log y -------------------------------------------
set output sprintf("%s/median-p99.png", res)
set title sprintf("Median and p99 of a first touch, by who resolves the fault\n%s", run)
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.9 border rgb "#333333"
set boxwidth 0.9
set logscale y
set yrange [0.5:*]
set ylabel "us per first touch (log scale)"
set xlabel ""
set xtics norotate nomirror
set key top left
plot sprintf("%s/lat.dat", tmp) using 2:xtic(1) title "hugetlb median" lc rgb C[2], \
	'' using 3 title "hugetlb p99" lc rgb "#9ecae1", \
	'' using 4 title "shmem median" lc rgb C[5], \
	'' using 5 title "shmem p99" lc rgb "#fdbb84"

# --- per-page.png: time per page over a region ------------------------------
set output sprintf("%s/per-page.png", res)
set title sprintf("Time per page to touch a whole region (lower is better)\n%s", run)
unset logscale y
set yrange [0:*]
set ylabel "us per page (whole region / pages)"
set yrange [0:*]
plot sprintf("%s/page.dat", tmp) using 2:xtic(1) title "hugetlb (2 MiB)" lc rgb C[2], \
	'' using 3 title "shmem (4 KiB)" lc rgb C[5], \
	'' using ($0 - 0.17):2:(sprintf("%.2f", $2)) with labels offset 0,0.7 notitle, \
	'' using ($0 + 0.17):3:(sprintf("%.2f", $3)) with labels offset 0,0.7 notitle
