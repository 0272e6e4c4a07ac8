# Latency CDF per mode, one chart per page kind.
# usage: gnuplot -e "dat='bench/results/cdf-shmem.dat'; out='bench/results/latency-shmem.png'; kind='shmem'" bench/plot.gp
# The data file holds one block per mode (written by uffdd-bench), the first
# line of each block naming the mode.

if (!exists("dat")) dat = 'bench/results/cdf-shmem.dat'
if (!exists("out")) out = 'bench/results/latency-shmem.png'
if (!exists("kind")) kind = 'shmem'

set terminal pngcairo size 1200,750 font ",10" noenhanced
set output out
stats dat using 1 nooutput
nblocks = STATS_blocks

set title sprintf("uffdd-bench: first-touch latency CDF, %s (every sample of every round)", kind)
set xlabel "latency per first touch (us, log scale)"
set ylabel "fraction of faults <= x"
set logscale x
set xrange [0.1:*]
set yrange [0:1]
set grid xtics mxtics ytics
set key outside right top
set style data steps
# Eight colours, then the same colours dashed: every mode stays distinct.
plot for [i=0:nblocks-1] dat index i using 1:2 title columnheader(1) lw 2 lc (i%8+1) dt 1+i/8
