// CLI tests share libtorch's global random generator (seeded by every training command): run the classes one
// after another so a seed set by one test is not consumed by another (the BC-teacher test was flaky that way).
[assembly: CollectionBehavior(DisableTestParallelization = true)]
