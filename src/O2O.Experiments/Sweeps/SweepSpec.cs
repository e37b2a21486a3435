using System.Globalization;
using System.Text.RegularExpressions;
using O2O.Core;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace O2O.Experiments.Sweeps;

/// <summary>Where a value stands in the spec file (1-based), for error messages.</summary>
public readonly record struct SpecPlace(string File, long Line, long Column)
{
    public override string ToString() => $"{File}:{Line}:{Column}";
}

/// <summary>One arm of the grid: extra arguments ({args}), an optional command of its own, variables.</summary>
public sealed record ArmSpec(string Name, string Args, string? Command, IReadOnlyDictionary<string, string> Vars,
    SpecPlace Place);

/// <summary>Slurm resources: from the spec's `slurm:` block, a stage's own, or flags (in that order of weight).
/// </summary>
public sealed record SlurmResources(string? Partition = null, string? Time = null, int? CpusPerTask = null,
    string? Mem = null)
{
    /// <summary>The fields set in <paramref name="over"/> replace these.</summary>
    public SlurmResources With(SlurmResources? over) => over is null ? this : new(over.Partition ?? Partition,
        over.Time ?? Time, over.CpusPerTask ?? CpusPerTask, over.Mem ?? Mem);
}

/// <summary>
/// One stage: a command template run once per combination of the axes in <see cref="Per"/> (none: once),
/// after the stages it <see cref="Needs"/>. <see cref="Resume"/>: a path template that, when it exists at the
/// start of a job, makes the job continue with --resume (a killed learner's checkpoint). <see cref="Result"/>:
/// the CSV a run leaves, for the comparison.
/// </summary>
public sealed record StageSpec(string Name, IReadOnlyList<string> Per, IReadOnlyList<string> Needs,
    string Command, string? Resume, string? Result, SlurmResources? Slurm, SpecPlace Place,
    IReadOnlyDictionary<string, SpecPlace> NeedPlaces);

/// <summary>The comparison a sweep produces (`o2o sweep report`). <see cref="Reference"/> and
/// <see cref="TotalSteps"/> are a number or a variable ("{steps}"), read with the sweep's variables.</summary>
public sealed record CompareSpec(string Stage, string Metric, string? Baseline, string? Reference,
    string? TotalSteps, IReadOnlyList<(string Name, IReadOnlyList<string> Arms)> Variants, string Title)
{
    /// <summary>The text of a field with a "{variable}" replaced by its value.</summary>
    public static string Resolve(string text, IReadOnlyDictionary<string, string> vars) =>
        text.Length > 2 && text[0] == '{' && text[^1] == '}' && vars.TryGetValue(text[1..^1], out var v) ? v : text;

    /// <summary>The reference score with these variables (null: each run's first evaluation).</summary>
    public double? ReferenceWith(IReadOnlyDictionary<string, string> vars) =>
        Reference is null ? null
            : double.TryParse(Resolve(Reference, vars), NumberStyles.Float, CultureInfo.InvariantCulture, out var d)
                ? d : throw new UserError($"compare reference '{Resolve(Reference, vars)}' is not a number");

    /// <summary>The budget with these variables (null: each run's last logged step).</summary>
    public long? TotalStepsWith(IReadOnlyDictionary<string, string> vars) =>
        TotalSteps is null ? null
            : long.TryParse(Resolve(TotalSteps, vars), NumberStyles.Integer, CultureInfo.InvariantCulture, out var l)
                && l > 0 ? l
                : throw new UserError($"compare total_steps '{Resolve(TotalSteps, vars)}' is not a positive integer");
}

/// <summary>
/// A sweep spec (YAML, docs/sweeps.md): a grid of tasks × arms × seeds (and further axes), stages with command
/// templates and explicit dependencies, Slurm resources and the comparison. Every error names the file, line
/// and column.
/// </summary>
public sealed record SweepSpec(string Name, string File, string Text, IReadOnlyList<string> Tasks,
    IReadOnlyList<string> Seeds, IReadOnlyList<ArmSpec> Arms, IReadOnlyDictionary<string, IReadOnlyList<string>> Axes,
    IReadOnlyDictionary<string, string> Vars, IReadOnlyList<StageSpec> Stages, SlurmResources Slurm,
    CompareSpec? Compare, int? Threads)
{
    /// <summary>Placeholders every command knows besides the axes and variables.</summary>
    public static readonly string[] Builtins = ["out", "dir", "threads", "args", "job", "name"];

    static readonly Regex Placeholder = new(@"\{([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z_][A-Za-z0-9_-]*))?\}");

    /// <summary>The values of an axis: tasks, arms, seeds or a named axis.</summary>
    public IReadOnlyList<string> Values(string axis) => axis switch
    {
        "task" => Tasks,
        "arm" => Arms.Select(a => a.Name).ToList(),
        "seed" => Seeds,
        _ => Axes[axis],
    };

    /// <summary>The spec with some variables set to other values (`--set NAME=VALUE`); a name the spec's vars: do not
    /// have is an error.</summary>
    public SweepSpec WithVars(IReadOnlyDictionary<string, string> set)
    {
        var vars = new Dictionary<string, string>(Vars);
        foreach (var (k, v) in set)
        {
            if (!vars.ContainsKey(k))
                throw new UserError($"--set {k}: the spec's vars: have no '{k}'; vars: "
                    + (vars.Count == 0 ? "none" : string.Join(", ", vars.Keys)));
            vars[k] = v;
        }
        Compare?.ReferenceWith(vars);
        Compare?.TotalStepsWith(vars);
        return this with { Vars = vars };
    }

    /// <summary>Read and check a spec file.</summary>
    public static SweepSpec Load(string path)
    {
        if (!System.IO.File.Exists(path)) throw new UserError($"sweep spec '{path}' does not exist");
        return Parse(System.IO.File.ReadAllText(path), path);
    }

    /// <summary>Parse and check spec text; <paramref name="file"/> names it in errors.</summary>
    public static SweepSpec Parse(string text, string file)
    {
        CheckNesting(text, file);
        var stream = new YamlStream();
        var parser = new Parser(new StringReader(text));
        try
        {
            stream.Load(parser);
        }
        catch (YamlException e)
        {
            var msg = e.InnerException is YamlException inner ? inner.Message : e.Message;
            throw new UserError($"{file}:{e.Start.Line}:{e.Start.Column}: not valid YAML: {OneLine(msg)}");
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // YamlDotNet's scanner gives up on some broken flow collections without a position: say where it was.
            var at = parser.Current?.End ?? Mark.Empty;
            throw new UserError($"{file}:{at.Line}:{at.Column}: not valid YAML: the text after this point does not "
                + "parse (an unclosed '{' or '[' ?)");
        }
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
            throw new UserError($"{file}: a sweep spec is a YAML mapping (name:, tasks:, arms:, seeds:, stages:, …)");
        return new Reader(file, text).Spec(root);
    }

    /// <summary>Deepest nesting a spec may have; a real one has a handful of levels.</summary>
    const int MaxNesting = 64;

    /// <summary>
    /// Refuse text that nests collections deeper than <see cref="MaxNesting"/> before the YAML parser sees it: its
    /// tree is built recursively, and thousands of '[' or '{' (or "- - - …") would overflow the stack, which ends
    /// the process without a message. Counts flow brackets outside quotes and comments, and block sequence dashes and
    /// indentation per line (an over-estimate is harmless: the limit is far above any real spec).
    /// </summary>
    static void CheckNesting(string text, string file)
    {
        var depth = 0;
        var line = 1;
        var quote = '\0';
        var lineStart = true;
        var block = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\n') { line++; lineStart = true; block = 0; if (quote == '\'') quote = '\0'; continue; }
            if (quote != '\0')
            {
                if (c == quote) quote = '\0';
                else if (c == '\\' && quote == '"') i++;
                continue;
            }
            if (lineStart)
            {
                if (c == ' ') { block++; continue; }
                if (c == '-' && i + 1 < text.Length && text[i + 1] is ' ' or '\n') { block += 2; i++; continue; }
                lineStart = false;
                if (block / 2 > MaxNesting) Deep(file, line);
            }
            switch (c)
            {
                case '#' when i == 0 || char.IsWhiteSpace(text[i - 1]):
                    while (i + 1 < text.Length && text[i + 1] != '\n') i++;
                    break;
                case '"' or '\'' when i == 0 || text[i - 1] is ' ' or '\t' or '[' or '{' or ',' or ':' or '\n':
                    quote = c;  // a quoted scalar (a quote inside a plain one, as in don't, is text)
                    break;
                case '[' or '{':
                    if (++depth > MaxNesting) Deep(file, line);
                    break;
                case ']' or '}':
                    depth = Math.Max(0, depth - 1);
                    break;
            }
        }
    }

    static void Deep(string file, int line) =>
        throw new UserError($"{file}:{line}: collections nest deeper than {MaxNesting} levels; a sweep spec needs a "
            + "few — is the file damaged?");

    static string OneLine(string s) => string.Join(' ', s.Split('\n', StringSplitOptions.RemoveEmptyEntries));

    /// <summary>Walks the YAML tree with errors that carry line and column.</summary>
    sealed class Reader(string file, string text)
    {
        SpecPlace At(YamlNode n) => new(file, n.Start.Line, n.Start.Column);

        UserError Error(YamlNode n, string message) => new($"{At(n)}: {message}");

        static readonly string[] TopFields =
            ["name", "tasks", "seeds", "arms", "axes", "vars", "threads", "stages", "slurm", "compare"];

        static readonly string[] ArmFields = ["args", "command", "vars"];

        static readonly string[] StageFields = ["per", "needs", "command", "resume", "result", "slurm"];

        static readonly string[] SlurmFields = ["partition", "time", "cpus_per_task", "mem"];

        static readonly string[] CompareFields =
            ["stage", "metric", "baseline", "reference", "total_steps", "variants", "title"];

        Dictionary<string, (YamlNode Key, YamlNode Value)> Fields(YamlNode node, string what, string[] known)
        {
            if (node is not YamlMappingNode map)
                throw Error(node, $"{what} must be a mapping of {string.Join(", ", known)}");
            var d = new Dictionary<string, (YamlNode, YamlNode)>();
            foreach (var (k, v) in map.Children)
            {
                var name = Scalar(k, "a field name");
                if (!known.Contains(name))
                    throw Error(k, $"unknown field '{name}' in {what}; known: {string.Join(", ", known)}");
                d[name] = (k, v);
            }
            return d;
        }

        string Scalar(YamlNode n, string what) => n is YamlScalarNode { Value: { } v } ? v
            : throw Error(n, $"{what} must be a plain value, not a list or mapping");

        List<string> List(YamlNode n, string what)
        {
            if (n is YamlScalarNode s) return [Scalar(s, what)];
            if (n is not YamlSequenceNode seq) throw Error(n, $"{what} must be a list");
            return seq.Children.Select(c => Scalar(c, $"an entry of {what}")).ToList();
        }

        static void Name(string name, Func<string, UserError> fail)
        {
            if (!Regex.IsMatch(name, @"^[A-Za-z0-9][A-Za-z0-9_.-]*$"))
                throw fail($"name '{name}' must be letters, digits, '_', '-' or '.' (it names folders)");
        }

        Dictionary<string, string> Vars(YamlNode n, string what)
        {
            if (n is not YamlMappingNode map) throw Error(n, $"{what} must be a mapping of NAME: value");
            var d = new Dictionary<string, string>();
            foreach (var (k, v) in map.Children)
            {
                var name = Scalar(k, "a variable name");
                if (!Regex.IsMatch(name, "^[A-Za-z_][A-Za-z0-9_]*$"))
                    throw Error(k, $"variable '{name}' must be a word (letters, digits, '_')");
                d[name] = Scalar(v, $"variable '{name}'");
            }
            return d;
        }

        int Int(YamlNode n, string what, int min)
        {
            var s = Scalar(n, what);
            if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) || v < min)
                throw Error(n, $"{what} must be an integer ≥ {min}, got '{s}'");
            return v;
        }

        SlurmResources Slurm(YamlNode n, string what)
        {
            var f = Fields(n, what, SlurmFields);
            string? S(string k) => f.TryGetValue(k, out var x) ? Scalar(x.Value, k) : null;
            int? cpus = f.TryGetValue("cpus_per_task", out var c) ? Int(c.Value, "cpus_per_task", 1) : null;
            return new SlurmResources(S("partition"), S("time"), cpus, S("mem"));
        }

        public SweepSpec Spec(YamlMappingNode root)
        {
            var f = Fields(root, "the sweep spec", TopFields);
            YamlNode Need(string k) => f.TryGetValue(k, out var x) ? x.Value
                : throw new UserError($"{file}: the sweep spec has no '{k}:'; see docs/sweeps.md");
            var name = f.TryGetValue("name", out var nm) ? Scalar(nm.Value, "name")
                : Path.GetFileNameWithoutExtension(file);
            var tasks = f.TryGetValue("tasks", out var t) ? List(t.Value, "tasks") : [];
            var seeds = f.TryGetValue("seeds", out var s) ? List(s.Value, "seeds") : [];
            var arms = new List<ArmSpec>();
            if (f.TryGetValue("arms", out var armsNode))
            {
                if (armsNode.Value is not YamlMappingNode am)
                    throw Error(armsNode.Value, "arms must be a mapping of NAME: {args, command, vars}");
                foreach (var (k, v) in am.Children)
                {
                    var an = Scalar(k, "an arm name");
                    Name(an, m => Error(k, $"arm {m}"));
                    if (v is YamlScalarNode { Value: null or "" })
                    {
                        arms.Add(new ArmSpec(an, "", null, new Dictionary<string, string>(), At(k)));
                        continue;
                    }
                    var af = Fields(v, $"arm '{an}'", ArmFields);
                    arms.Add(new ArmSpec(an, af.TryGetValue("args", out var aa) ? Scalar(aa.Value, "args") : "",
                        af.TryGetValue("command", out var ac) ? Scalar(ac.Value, "command") : null,
                        af.TryGetValue("vars", out var av) ? Vars(av.Value, $"arm '{an}' vars")
                            : new Dictionary<string, string>(), At(k)));
                }
            }
            var axes = new Dictionary<string, IReadOnlyList<string>>();
            if (f.TryGetValue("axes", out var ax))
            {
                if (ax.Value is not YamlMappingNode axm)
                    throw Error(ax.Value, "axes must be a mapping of NAME: [values]");
                foreach (var (k, v) in axm.Children)
                {
                    var an = Scalar(k, "an axis name");
                    if (an is "task" or "arm" or "seed" || Builtins.Contains(an))
                        throw Error(k, $"axis '{an}' is a reserved name; call it something else");
                    axes[an] = List(v, $"axis '{an}'");
                }
            }
            var vars = f.TryGetValue("vars", out var vn) ? Vars(vn.Value, "vars") : new Dictionary<string, string>();
            int? threads = f.TryGetValue("threads", out var th) ? Int(th.Value, "threads", 1) : null;
            var slurm = f.TryGetValue("slurm", out var sl) ? Slurm(sl.Value, "slurm") : new SlurmResources();
            var stages = Stages(Need("stages"), axes, arms, vars);
            var compare = f.TryGetValue("compare", out var cn) ? Compare(cn.Value, stages, arms, vars) : null;
            var spec = new SweepSpec(name, file, text, tasks, seeds, arms, axes, vars, stages, slurm, compare, threads);
            foreach (var st in stages)
                foreach (var axis in st.Per)
                    if (spec.Values(axis).Count == 0)
                        throw new UserError($"{st.Place}: stage '{st.Name}' runs per {axis}, but the spec lists no "
                            + (axis is "task" or "seed" or "arm" ? axis + "s" : axis));
            return spec;
        }

        List<StageSpec> Stages(YamlNode node, Dictionary<string, IReadOnlyList<string>> axes, List<ArmSpec> arms,
            Dictionary<string, string> vars)
        {
            if (node is not YamlMappingNode map || map.Children.Count == 0)
                throw Error(node, "stages must be a mapping of NAME: {per, needs, command, resume, result, slurm}");
            var stages = new List<StageSpec>();
            var keys = new Dictionary<string, YamlNode>();
            foreach (var (k, v) in map.Children)
            {
                var sn = Scalar(k, "a stage name");
                Name(sn, m => Error(k, $"stage {m}"));
                keys[sn] = k;
                var sf = Fields(v, $"stage '{sn}'", StageFields);
                var per = sf.TryGetValue("per", out var p) ? List(p.Value, "per") : [];
                foreach (var a in per)
                    if (a is not ("task" or "arm" or "seed") && !axes.ContainsKey(a))
                        throw Error(p.Value, $"stage '{sn}' runs per '{a}', which is no axis; axes: task, arm, seed"
                            + string.Concat(axes.Keys.Select(x => ", " + x)));
                var needPlaces = new Dictionary<string, SpecPlace>();
                if (sf.TryGetValue("needs", out var nd))
                {
                    var items = nd.Value is YamlSequenceNode seq ? seq.Children.ToList() : [nd.Value];
                    foreach (var i in items) needPlaces[Scalar(i, "an entry of needs")] = At(i);
                }
                if (!sf.TryGetValue("command", out var c))
                    throw Error(k, $"stage '{sn}' has no command:");
                var cmd = Scalar(c.Value, "command");
                var known = new HashSet<string>(Builtins.Concat(per).Concat(vars.Keys)
                    .Concat(arms.SelectMany(a => a.Vars.Keys)).Concat(axes.Keys));
                void Check(YamlNode n, string template)
                {
                    foreach (Match m in Placeholder.Matches(template))
                    {
                        var ph = m.Groups[1].Value;
                        if (m.Groups[2].Success)
                        {
                            if (ph != "out" || !needPlaces.ContainsKey(m.Groups[2].Value))
                                throw Error(n, $"placeholder '{m.Value}' of stage '{sn}': {{out:STAGE}} names a "
                                    + "stage of its needs:");
                        }
                        else if (!known.Contains(ph))
                            throw Error(n, $"unknown placeholder '{m.Value}' in stage '{sn}'; known here: "
                                + string.Join(", ", known.Order().Select(x => "{" + x + "}")) + ", {out:STAGE}");
                    }
                }
                Check(c.Value, cmd);
                if (per.Contains("arm"))
                    foreach (var a in arms)
                    {
                        if (a.Command is not null) Check(c.Value, a.Command);
                        Check(c.Value, a.Args);
                    }
                string? Opt(string key)
                {
                    if (!sf.TryGetValue(key, out var x)) return null;
                    var s = Scalar(x.Value, key);
                    Check(x.Value, s);
                    return s;
                }
                stages.Add(new StageSpec(sn, per, needPlaces.Keys.ToList(), cmd, Opt("resume"), Opt("result"),
                    sf.TryGetValue("slurm", out var ss) ? Slurm(ss.Value, $"stage '{sn}' slurm") : null, At(k),
                    needPlaces));
            }
            foreach (var st in stages)
                foreach (var (need, place) in st.NeedPlaces)
                    if (!keys.ContainsKey(need))
                        throw new UserError($"{place}: stage '{st.Name}' needs '{need}', which is no stage; stages: "
                            + string.Join(", ", keys.Keys));
            return Order(stages);
        }

        /// <summary>Stages in dependency order; a cycle is an error that names it.</summary>
        static List<StageSpec> Order(List<StageSpec> stages)
        {
            var byName = stages.ToDictionary(s => s.Name);
            var state = new Dictionary<string, int>();
            var order = new List<StageSpec>();
            var path = new List<string>();
            void Visit(StageSpec s)
            {
                state[s.Name] = 1;
                path.Add(s.Name);
                foreach (var n in s.Needs)
                {
                    var st = state.GetValueOrDefault(n);
                    if (st == 1)
                    {
                        var cycle = path.Skip(path.IndexOf(n)).Append(n);
                        throw new UserError($"{s.NeedPlaces[n]}: cyclic dependency between stages: "
                            + string.Join(" → ", cycle) + "; remove one of these needs");
                    }
                    if (st == 0) Visit(byName[n]);
                }
                path.RemoveAt(path.Count - 1);
                state[s.Name] = 2;
                order.Add(s);
            }
            foreach (var s in stages)
                if (state.GetValueOrDefault(s.Name) == 0) Visit(s);
            return order;
        }

        CompareSpec Compare(YamlNode node, List<StageSpec> stages, List<ArmSpec> arms,
            Dictionary<string, string> vars)
        {
            var f = Fields(node, "compare", CompareFields);
            string? S(string k) => f.TryGetValue(k, out var x) ? Scalar(x.Value, k) : null;
            var withResult = stages.Where(s => s.Result is not null).ToList();
            var stageName = S("stage") ?? (withResult.Count == 1 ? withResult[0].Name
                : throw Error(node, "compare: name the stage whose results to compare (stage:); "
                    + "it needs a result: path"));
            var stage = stages.FirstOrDefault(s => s.Name == stageName)
                ?? throw Error(f["stage"].Value, $"compare: no stage '{stageName}'");
            if (stage.Result is null)
                throw Error(f.TryGetValue("stage", out var sk) ? sk.Value : node,
                    $"compare: stage '{stageName}' has no result: (the CSV each of its jobs leaves)");
            var armNames = arms.Select(a => a.Name).ToList();
            var variants = new List<(string, IReadOnlyList<string>)>();
            if (f.TryGetValue("variants", out var vn))
            {
                if (vn.Value is not YamlMappingNode vm) throw Error(vn.Value, "compare variants: NAME: [arms]");
                foreach (var (k, v) in vm.Children)
                {
                    var members = List(v, $"variant '{Scalar(k, "a variant name")}'");
                    foreach (var m in members)
                        if (!armNames.Contains(m)) throw Error(v, $"compare variant: no arm '{m}'");
                    variants.Add((Scalar(k, "a variant name"), members));
                }
            }
            else
                variants.AddRange(armNames.Select(a => (a, (IReadOnlyList<string>)[a])));
            var baseline = S("baseline");
            if (baseline is not null && variants.All(v => v.Item1 != baseline))
                throw Error(f["baseline"].Value, $"compare baseline '{baseline}' is no variant; variants: "
                    + string.Join(", ", variants.Select(v => v.Item1)));
            var c = new CompareSpec(stageName, S("metric") ?? "eval/normalized", baseline, S("reference"),
                S("total_steps"), variants, S("title") ?? "learning curves");
            try
            {
                c.ReferenceWith(vars);
                c.TotalStepsWith(vars);
            }
            catch (UserError e)
            {
                throw Error(f[e.Message.Contains("reference", StringComparison.Ordinal) ? "reference" : "total_steps"]
                    .Value, e.Message + " (or a variable of vars:, e.g. \"{steps}\")");
            }
            return c;
        }
    }
}
