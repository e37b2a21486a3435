// The kill campaign aims at phases by their timing: other tests running beside it on a small machine would make it
// miss; run the classes one after another.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
