namespace RetailStreaming.Transforms;

/// <summary>What happened to a row.</summary>
public enum ChangeOperation
{
    /// <summary>A row was inserted: <see cref="ChangeEvent.After"/> holds it.</summary>
    Insert = 1,

    /// <summary>A row was updated: <see cref="ChangeEvent.After"/> holds the new row and
    /// <see cref="ChangeEvent.Before"/> the old one where the source provides it.</summary>
    Update = 2,

    /// <summary>A row was deleted: <see cref="ChangeEvent.Before"/> holds at least its key.</summary>
    Delete = 3,

    /// <summary>A row read by a snapshot (initial or on demand): <see cref="ChangeEvent.After"/> holds it.</summary>
    Read = 4,

    /// <summary>Every row of a table was removed at once (SQL <c>TRUNCATE</c>): <see cref="ChangeEvent.Table"/>
    /// names the table, <see cref="ChangeEvent.Key"/> is empty and <see cref="ChangeEvent.Before"/> and
    /// <see cref="ChangeEvent.After"/> are null. No delete is delivered for the rows themselves.</summary>
    Truncate = 5,
}
